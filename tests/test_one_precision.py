"""One precision per run: every forward outside the Trainer's own (reference log-probs, probe and
activation-norm passes, a live reference) runs under the policy's bf16 autocast; the live copy and
the frozen parts keep 2-byte weights; after training no autocast wrapper is left, so the run's own
evaluation equals `unlearn eval` of the saved model."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from torch import nn

from test_methods_common import (  # noqa: F401 - one_thread is an autouse fixture
    one_thread,
    tiny_config,
    tiny_tokenizer,
    trained_model,
)
from test_reliability_common import cli, run_args
from unlearnkit.data.collate import pad_batch
from unlearnkit.logprobs import sequence_logprob
from unlearnkit.methods.rmu import activation_norm
from unlearnkit.models import apply_precision, train_load_dtype
from unlearnkit.train.unlearn import build_trainer, unlearn

BF16 = torch.bfloat16


def _steps(summary: dict) -> list[dict]:
    return [h for h in summary["log_history"] if "loss" in h]


def _bf16_start():
    """The tiny model as a bf16 checkpoint loads for mixed-bf16: fp32 masters of bf16 values."""
    return trained_model().to(BF16).float()


def test_npo_log_ratio_is_zero_at_step_0_under_bf16_autocast(data, tmp_path):
    cfg = tiny_config(data, "npo", {"alpha": 0.0}, max_steps=1, precision="mixed-bf16")
    summary = unlearn(cfg, _bf16_start(), tiny_tokenizer(), tmp_path, progress=False)
    (step,) = _steps(summary)
    # log π_θ − log π_ref of the same weights, both forwards in bf16 autocast: 0 up to the bf16
    # kernels' dependence on the batch's padded shape (measured: 0.0; with the fp32 reference
    # without autocast before: 1.0e-2).
    assert abs(step["forget_logratio"]) < 2e-4


def test_precomputed_reference_runs_under_the_policy_autocast(data, tmp_path):
    cfg = tiny_config(data, "npo", {"alpha": 0.0}, precision="mixed-bf16")
    model = _bf16_start()
    run = build_trainer(cfg, model, tiny_tokenizer(), tmp_path, progress=False)
    batch = pad_batch(list(run.dataset.forget), tiny_tokenizer().pad_token_id)
    with torch.no_grad(), torch.autocast("cpu", dtype=BF16):
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    want = sequence_logprob(logits.float(), batch["labels"])
    got = run.trainer.reference.tables["forget"]
    torch.testing.assert_close(got, want, rtol=0.0, atol=2e-4)


def test_rmu_activation_norm_is_measured_under_the_policy_autocast(data, tmp_path):
    cfg = tiny_config(data, "rmu", {"c_mode": "relative", "layer": 0}, precision="mixed-bf16")
    model = _bf16_start()
    run = build_trainer(cfg, model, tiny_tokenizer(), tmp_path, progress=False)
    rows, pad = list(run.dataset.forget), tiny_tokenizer().pad_token_id
    bf16 = activation_norm(model, rows, 0, pad, "cpu", 4, lambda: torch.autocast("cpu", dtype=BF16))
    fp32 = activation_norm(model, rows, 0, pad, "cpu", 4)
    assert fp32 != pytest.approx(bf16, rel=1e-5)  # the precisions differ visibly here
    assert run.method.activation_norm == pytest.approx(bf16, rel=1e-6)


def test_prism_probe_states_are_pooled_under_the_policy_autocast(data, tmp_path, monkeypatch):
    from unlearnkit.methods.prism import method as prism

    seen = []
    real = prism.pooled_states

    def spy(model, examples, layer, pad_id, device, batch_size, autocast):
        with autocast():
            seen.append(torch.is_autocast_enabled("cpu"))
        return real(model, examples, layer, pad_id, device, batch_size, autocast)

    monkeypatch.setattr(prism, "pooled_states", spy)
    for precision, want in (("mixed-bf16", True), ("fp32", False)):
        seen.clear()
        cfg = tiny_config(data, "prism", {"probe_epochs": 1}, precision=precision)
        build_trainer(cfg, _bf16_start(), tiny_tokenizer(), tmp_path / precision, progress=False)
        assert seen == [want, want]  # forget rows, retain rows


def test_live_reference_stores_linear_weights_in_bf16_and_runs_under_autocast(data, tmp_path):
    cfg = tiny_config(data, "kl", {}, max_steps=1, precision="mixed-bf16")
    run = build_trainer(cfg, _bf16_start(), tiny_tokenizer(), tmp_path, progress=False)
    ref = run.trainer.reference.model
    linears = [m for m in ref.modules() if isinstance(m, nn.Linear)]
    assert linears and all(m.weight.dtype == BF16 for m in linears if m is not ref.lm_head)
    assert ref.get_input_embeddings().weight.dtype == torch.float32  # tied to the lm_head
    seen = []
    handle = linears[0].register_forward_hook(
        lambda m, a, o: seen.append(torch.is_autocast_enabled("cpu"))
    )
    run.trainer.train()
    handle.remove()
    assert seen and all(seen)
    (step,) = _steps({"log_history": run.trainer.state.log_history})
    # KL(π_ref ‖ π_θ) at step 0: the same forward on both sides (measured: 0.0; an fp32 copy
    # without autocast before: 4.9e-5).
    assert step["retain_kl"] < 1e-7


def test_unlearn_leaves_no_autocast_wrapper_on_the_model(data, tmp_path):
    model = _bf16_start()
    plain = copy.deepcopy(model)  # its buffers too (rotary frequencies, rounded by _bf16_start)
    cfg = tiny_config(data, "ga", {}, max_steps=1, precision="mixed-bf16")
    unlearn(cfg, model, tiny_tokenizer(), tmp_path, progress=False)
    plain.load_state_dict(model.state_dict())
    ids = torch.tensor([[3, 17, 42, 8, 99]])
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids).logits, plain(input_ids=ids).logits)


def test_run_metrics_are_those_of_unlearn_eval_on_the_saved_model(
    capfd, run_data, model_dir, tmp_path
):
    out = tmp_path / "run"
    argv = run_args(run_data, model_dir, out, "train.precision=mixed-bf16", "--save-model")
    status, _, err = cli(capfd, argv)
    assert status == 0, err
    again = tmp_path / "again"
    argv = ["eval", "--model", out / "model", "--data", run_data, "--split", "forget01"]
    argv += ["--device", "cpu", "--max-new-tokens", "2", "--batch-size", "16", "--out", again]
    status, _, err = cli(capfd, argv)
    assert status == 0, err
    run = json.loads((out / "metrics.json").read_text())["metrics"]
    evaluated = json.loads((again / "metrics.json").read_text())["metrics"]
    assert run and run == evaluated


def test_mixed_bf16_casts_only_what_trains():
    model = trained_model().to(BF16)
    for name, p in model.named_parameters():
        p.requires_grad_("layers.1.mlp.down_proj" in name)
    apply_precision(model, "mixed-bf16")
    for name, p in model.named_parameters():
        assert p.dtype == (torch.float32 if p.requires_grad else BF16), name
    apply_precision(model, "fp32")  # without autocast the layers must agree: all fp32
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_rmu_trains_its_layers_in_fp32_and_leaves_the_frozen_ones_bf16(data, tmp_path):
    model = trained_model().to(BF16)
    cfg = tiny_config(data, "rmu", {"layer": 1}, max_steps=2, precision="mixed-bf16")
    summary = unlearn(cfg, model, tiny_tokenizer(), tmp_path, progress=False)
    assert summary["steps"] == 2
    trained = {n: p.dtype for n, p in model.named_parameters() if p.requires_grad}
    frozen = {n: p.dtype for n, p in model.named_parameters() if not p.requires_grad}
    assert trained and set(trained.values()) == {torch.float32}
    assert frozen and set(frozen.values()) == {BF16}


def test_lora_and_rmu_load_their_frozen_base_in_bf16_under_mixed_bf16():
    assert train_load_dtype("auto", "mixed-bf16", frozen_base=True) == "bf16"
    assert train_load_dtype("auto", "mixed-bf16") == "fp32"  # full fine-tuning: fp32 masters
    assert train_load_dtype("auto", "fp32", frozen_base=True) == "fp32"
    assert train_load_dtype("fp32", "mixed-bf16", frozen_base=True) == "fp32"  # as asked


def test_run_loads_a_lora_base_in_bf16(run_data, model_dir, tmp_path):
    from unlearnkit.api import RunConfig, _load_model
    from unlearnkit.preflight import check_run
    from unlearnkit.train.unlearn import DataSection, LoraSection, TrainSection

    for lora, method, want in ((2, "ga", BF16), (0, "rmu", BF16), (0, "ga", torch.float32)):
        cfg = RunConfig(
            method=method,
            model=str(model_dir),
            device="cpu",
            out=str(tmp_path / f"{method}{lora}"),
            train=TrainSection(precision="mixed-bf16"),
            lora=LoraSection(r=lora),
            data=DataSection(benchmark="tofu", path=str(run_data), split="forget01"),
        )
        model = _load_model(check_run(cfg))
        assert {p.dtype for p in model.parameters()} == {want}, (method, lora)
