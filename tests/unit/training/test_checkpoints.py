"""A proxy fit killed part-way resumes from its checkpoint and ends where an uninterrupted fit ends
(issue 28, item 1: long CPU runs in the background)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

TEXTS = [
    "registered nurse", "staff nurse icu", "charge nurse", "nurse practitioner", "software developer",
    "backend engineer", "java programmer", "web developer", "truck driver", "delivery driver",
    "tractor trailer operator", "bus driver", "line cook", "prep cook", "chef de partie", "short order cook",
]
LABELS = np.repeat(np.arange(4), 4)


class Killed(Exception):
    """The worker dies (what the test does to the fit at a chosen step)."""


def _fit(settings, on_step=None):
    from jobclass.model.encoder import encode, load_encoder
    from jobclass.training.objectives import fit_proxy_softmax

    encoder = load_encoder(device="cpu")
    init = encode(encoder, ["registered nurses", "software developers", "truck drivers", "cooks"])
    metrics = fit_proxy_softmax(encoder, TEXTS, LABELS, init, settings, on_step=on_step)
    return encoder, metrics


def _weights(encoder) -> dict:
    return {k: v.detach().clone() for k, v in encoder.state_dict().items()}


@pytest.mark.slow
def test_a_killed_fit_resumes_from_its_checkpoint_and_ends_as_an_uninterrupted_one(tmp_path):
    import torch

    from jobclass.training.checkpoints import FILE_NAME
    from jobclass.training.objectives import ProxySettings

    settings = ProxySettings(batch_size=4, max_steps=6, length_group=1, show_progress=False, checkpoint_every=2)
    whole, whole_metrics = _fit(settings)

    resumable = replace(settings, checkpoint_dir=str(tmp_path / "ckpt"))

    def die_at_five(step: int) -> None:
        if step == 5:
            raise Killed

    with pytest.raises(Killed):
        _fit(resumable, on_step=die_at_five)
    assert (tmp_path / "ckpt" / FILE_NAME).exists()  # the checkpoint of step 4 is left

    steps: list[int] = []
    resumed, resumed_metrics = _fit(resumable, on_step=steps.append)
    assert steps == [5, 6]  # it went on from step 4, not from the start
    assert resumed_metrics == whole_metrics
    a, b = _weights(whole), _weights(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # the same weights as never stopped
    assert not (tmp_path / "ckpt" / FILE_NAME).exists()  # removed once the fit is done


@pytest.mark.slow
def test_a_checkpoint_of_another_fit_is_not_taken_up(tmp_path):
    from jobclass.training.objectives import ProxySettings

    settings = ProxySettings(
        batch_size=4, max_steps=4, length_group=1, show_progress=False, checkpoint_every=2, checkpoint_dir=str(tmp_path)
    )

    def die_at_three(step: int) -> None:
        if step == 3:
            raise Killed

    with pytest.raises(Killed):
        _fit(settings, on_step=die_at_three)
    steps: list[int] = []
    _fit(replace(settings, learning_rate=1e-4), on_step=steps.append)  # another fit: starts afresh
    assert steps == [1, 2, 3, 4]
