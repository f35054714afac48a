"""Fine-tuning from a pre-trained multi-game run: finding that run and its encoder.

A fine-tuning run is an ordinary run whose `finetune.pretrained` names the config hash of a
recorded pre-training run. `train.create_train_state` then starts from that run's encoder and
spatial embedding (`networks.transfer_encoder`), with a fresh MLP and fresh heads, and
`finetune.encoder=frozen` keeps the encoder fixed. Offline fine-tuning therefore trains,
resumes, evaluates and records exactly like any other run (`results.run_or_load`); online
fine-tuning (`online.agent_steps` > 0, `scaledql.online`) starts from the same state.
"""

from __future__ import annotations

import json

from scaledql import configs
from scaledql.configs import Config


def pretrained_record(config_hash: str) -> dict:
    """The run record with this config hash, from any preset's folder of data/results."""
    from scaledql import results

    found = sorted(results.results_dir().glob(f"*/{config_hash}.json"))
    if not found:
        raise FileNotFoundError(
            f"no run record has config hash {config_hash!r} under {results.results_dir()}; "
            "`scaledql records` lists the recorded runs and their hashes"
        )
    return json.loads(found[0].read_text())


def pretrained_config(config: Config) -> Config:
    """The config of the run that `config.finetune.pretrained` names."""
    return configs.from_dict(pretrained_record(config.finetune.pretrained)["config"])


def pretrained_params(config: Config) -> dict:
    """The online parameters of the final checkpoint of the pre-training run."""
    from scaledql import train

    source = pretrained_config(config)
    workdir = train.default_workdir(source)
    try:
        return train.load_params(source, workdir)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"the pre-trained run {config.finetune.pretrained} has a record but no checkpoint in "
            f"{workdir} on this machine; train it again with `{configs.command(source)} --fresh`"
        ) from None
