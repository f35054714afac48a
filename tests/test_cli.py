"""The `scaledql` command: benchmarks print figures, bad input gives one clear line."""

import json
import os
import subprocess
import sys

import jax
import pytest

from scaledql import cli, configs


def test_bench_update_prints_speed_and_flops(capsys):
    assert cli.main(["bench", "update", "--preset", "smoke", "--steps", "3"]) == 0
    out = capsys.readouterr().out
    for label in ("gradient steps/s", "samples/s", "GFLOP per step", "achieved GFLOP/s"):
        assert label in out
    args = ["--seeds", "2", "--set", "train.steps_per_call=2"]
    assert cli.main(["bench", "update", "--preset", "smoke", "--steps", "2", *args]) == 0
    out = capsys.readouterr().out
    assert "2 in one vmapped update" in out and "steps/s" in out


def test_params_table_lists_every_encoder(capsys):
    assert cli.main(["params"]) == 0
    out = capsys.readouterr().out
    assert "69,877,232" in out  # the paper network
    for encoder in ("resnet18", "resnet152", "impala", "nature"):
        assert encoder in out


def test_bad_preset_and_setting_exit_2_with_the_valid_names():
    result = subprocess.run(
        [sys.executable, "-m", "scaledql.cli", "params", "--preset", "huge"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "valid presets: smoke, cpu, gpu, paper" in result.stderr
    assert "Traceback" not in result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "scaledql.cli", "params", "--set", "netwrk.width=2"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "network.width" in result.stderr


def test_a_listing_piped_into_a_reader_that_stopped_ends_quietly():
    # `scaledql runs | head -1`, made certain: the reader's end is closed before any output
    read_end, write_end = os.pipe()
    os.close(read_end)
    lister = subprocess.run(
        [sys.executable, "-m", "scaledql.cli", "runs", "--preset", "twin"],
        stdout=write_end,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(write_end)
    assert lister.returncode == 0 and lister.stderr == ""


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--coordinator", "127.0.0.1:1"], "--coordinator, --num-processes and --process-id go"),
        (
            ["--coordinator", "127.0.0.1:1", "--num-processes", "2", "--process-id", "2"],
            "--process-id 2 is not one of 0 to 1",
        ),
    ],
)
def test_process_flags_are_checked_before_joining(flags, message, capsys):
    assert cli.main(["train", "--preset", "smoke", *flags]) == 2
    assert message in capsys.readouterr().err


def test_train_refuses_a_game_of_the_other_family_before_collecting(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SCALEDQL_CACHE", str(tmp_path / "cache"))
    assert cli.main(["train", "--preset", "twin", "--set", "games=Pong"]) == 2
    assert "made for MinAtar twin games" in capsys.readouterr().err
    assert not (tmp_path / "cache").exists()  # nothing collected


def test_collect_then_stats(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SCALEDQL_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "Pong" / "1" / "replay_logs"
    args = ["collect", "--game", "Pong", "--steps", "300", "--out", str(out), "--capacity", "64"]
    assert cli.main(args) == 0
    assert cli.main(["data", "stats", str(out)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[-1].split()[:2] == ["Pong", "random"]
    assert cli.main(["collect", "--game", "Pongg", "--steps", "3", "--out", str(tmp_path)]) == 2
    assert "valid games" in capsys.readouterr().err


def test_bench_sampler_prints_throughput(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SCALEDQL_CACHE", str(tmp_path / "cache"))
    args = ["bench", "sampler", "--games", "Pong,Breakout", "--steps-per-game", "300"]
    args += ["--capacity", "128", "--batch-size", "32", "--batches", "3"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "transitions/s" in out and "peak RSS" in out


def test_settings_lists_every_key_with_its_default_and_meaning(capsys):
    assert cli.main(["settings", "--preset", "cpu"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert set(rows) == set(configs.setting_names(configs.preset("cpu")))
    # network.width: 0.25 at cpu, 1.0 by default; the line under the field says what it is
    assert rows["network.width"].split()[1:3] == ["0.25", "1.0"]
    assert "channel multiplier" in rows["network.width"]
    assert "weight of the CQL regulariser" in rows["loss.cql_alpha"]


@pytest.mark.slow
def test_twin_collection_and_its_benchmark_print_their_figures(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SCALEDQL_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "Breakout" / "1" / "replay_logs"
    args = ["collect", "--game", "minatar/Breakout", "--policy", "dqn", "--steps", "3000"]
    assert cli.main([*args, "--capacity", "1000", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "final policy: mean return" in printed and "(random play:" in printed
    assert printed.splitlines()[-1].split()[:2] == ["minatar/Breakout", "dqn"]
    assert cli.main(["bench", "collect", "--game", "minatar/Asterix", "--frames", "3000"]) == 0
    printed = capsys.readouterr().out
    assert "frames/s" in printed and "gradient steps/s" in printed
    args = ["collect", "--game", "minatar/Breakout", "--policy", "greedy-eps:x", "--steps", "9"]
    assert cli.main([*args, "--out", str(tmp_path / "x")]) == 2
    assert "use --policy dqn or random" in capsys.readouterr().err


@pytest.mark.slow
def test_a_twin_collection_with_other_settings_records_them_and_is_not_mixed(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("SCALEDQL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SCALEDQL_COLLECTIONS", str(tmp_path / "collections"))
    out = tmp_path / "run"
    args = ["collect", "--game", "minatar/Breakout", "--policy", "dqn", "--steps", "2000",
            "--capacity", "1000", "--out", str(out), "--seed", "3"]  # fmt: skip
    faster = ["--set", "online.update_period=1", "--set", "network.mlp_sizes=16"]
    assert cli.main([*args, *faster, "--record", "checked"]) == 0
    stored = json.loads((tmp_path / "collections/checked/minatar/Breakout/run3.json").read_text())
    assert stored["settings"]["overrides"] == ["online.update_period=1", "network.mlp_sizes=16"]
    assert "--set online.update_period=1" in stored["provenance"]["command"]
    # the policy it saved has the hidden layer the setting asked for
    assert (out / "policy").exists()
    capsys.readouterr()
    assert cli.main(args) == 2  # the same directory, the default settings: refused
    assert "holds a collection with other settings" in capsys.readouterr().err
    assert cli.main(["collect", "--game", "Pong", "--steps", "9", "--out", str(tmp_path / "p"),
                     "--set", "online.update_period=1"]) == 2  # fmt: skip
    assert "the twin's DQN collector only" in capsys.readouterr().err


def test_runs_lists_the_twin_study_and_shards_its_training(tmp_path, capsys, monkeypatch):
    from scaledql import configs, records, studies

    monkeypatch.setenv("SCALEDQL_RESULTS", str(tmp_path))
    planned = studies.book_runs("twin")
    # chapter 4: 2 methods x 2 datasets x 5 seeds; chapter 5: 12 sizes x 3 seeds, less the
    # ResNet + C51 size that is chapter 4's Scaled QL; chapter 6: 4 variants x 5 seeds (its
    # Scaled QL seeds are chapter 4's, its MSE seeds 0-2 chapter 5's); chapter 7: 5 held-out
    # games x 3 seeds x (a pre-trained run and 3 fine-tuning variants); chapter 8: 4 variants
    # x 3 seeds x (pre-trained, scratch) (its pre-trained runs are chapter 4's); then, after
    # the paper's claims, the comparison methods: the Decision Transformer (2 datasets x 5
    # seeds), HL-Gauss (5 seeds), Fig. 7's other pre-training (5 games x 3 methods x 3 seeds x
    # 2 runs) and the online MAE (3 seeds x a pre-training and 4 variants)
    assert len(planned) == 20 + 33 + 17 + 60 + 24 + 10 + 5 + 90 + 15
    assert all(config.loss.kind == "dt" for _, _, config in planned[-120:-110])
    assert all(config.loss.kind == "hl_gauss" for _, _, config in planned[-110:-105])
    first = planned[0][2]
    records.write_record({"config_hash": "x"}, records.record_path(first))  # "recorded"
    shards = []
    for k in (0, 1):
        trained = []
        monkeypatch.setattr(cli.pipeline, "run_or_load", trained.append)
        assert cli.main(["runs", "--preset", "twin", "--train", "--shard", f"{k}/2"]) == 0
        shards.append(trained)
    out = capsys.readouterr().out
    assert "1 of 274 runs recorded at preset twin" in out
    hashes = [configs.config_hash(c) for *_, c in planned]
    # every missing run is trained once, and the single runs of chapters 4 and 6 alternate
    # between the shards (the first is recorded; its chapter 8 runs are a group of 4)
    assert sorted(configs.config_hash(c) for t in shards for c in t) == sorted(hashes[1:])
    assert shards[0][0] == planned[1][2] and shards[1][0] == planned[2][2]
    # a fine-tuning run goes with the run it starts from, after it (or that run is recorded);
    # the shards balance
    tuned = [c for *_, c in planned if c.finetune.pretrained]
    assert tuned and all(c.finetune.pretrained in hashes for c in tuned)
    for trained in shards:
        order = [configs.config_hash(c) for c in trained]
        for i, config in enumerate(trained):
            source = config.finetune.pretrained
            assert not source or source == hashes[0] or order.index(source) < i
    # the largest group: a chapter 4 run and chapter 8's 4 runs that start from it
    assert abs(len(shards[0]) - len(shards[1])) <= 5
    with pytest.raises(SystemExit):
        cli.main(["runs", "--preset", "twin", "--shard", "2/2"])
    assert "expected K/N with 0 <= K < N" in capsys.readouterr().err
    # --chapter: only the runs of the chapters named
    trained = []
    monkeypatch.setattr(cli.pipeline, "run_or_load", trained.append)
    assert cli.main(["runs", "--preset", "twin", "--train", "--chapter", "05", "08_online"]) == 0
    assert "0 of 72 runs recorded" in capsys.readouterr().out  # 33 + 24 + 15, counted above
    chosen = {configs.config_hash(c) for ch, _, c in planned if ch[:2] in ("05", "08")}
    assert {configs.config_hash(c) for c in trained} == chosen and len(trained) == 72
    assert cli.main(["runs", "--preset", "twin", "--chapter", "09"]) == 2
    assert "--chapter 09: no such chapter has runs; chapters: 04_multi_game" in (
        capsys.readouterr().err
    )


def test_the_compilation_cache_reaches_the_processes_a_command_starts(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALEDQL_CACHE", str(tmp_path))
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", "")  # unset; restored after the test
    before = jax.config.jax_compilation_cache_dir
    try:
        cli.use_compilation_cache()
        assert jax.config.jax_compilation_cache_dir == str(tmp_path / "jax")
        # a book kernel is a new process: it reads the cache from the environment
        child = subprocess.run(
            [sys.executable, "-c", "import jax; print(jax.config.jax_compilation_cache_dir)"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert child.stdout.strip() == str(tmp_path / "jax")
    finally:
        jax.config.update("jax_compilation_cache_dir", before)
