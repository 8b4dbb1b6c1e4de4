"""Where a causal LM keeps its decoder layers, found by inspection rather than by one
architecture's attribute names (Llama's ``model.layers``, GPT-2's ``transformer.h``, OPT's
``model.decoder.layers``, GPT-NeoX's ``gpt_neox.layers``, …)."""

from __future__ import annotations

from torch import nn

from unlearnkit.errors import UserError

MLP_OUT = "mlp_out"  # the MLP's output projection (intermediate → hidden), whatever its name


def decoder_layers(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """(qualified name, module list) of the model's decoder layers: its longest ``ModuleList`` of
    blocks of one type."""
    best: tuple[str, nn.ModuleList] | None = None
    for name, module in model.named_modules():
        if not isinstance(module, nn.ModuleList) or len(module) == 0:
            continue
        if len({type(m) for m in module}) != 1 or not any(True for _ in module[0].parameters()):
            continue
        if best is None or len(module) > len(best[1]):
            best = (name, module)
    if best is None:
        raise UserError(
            f"{type(model).__name__} has no stack of decoder layers to hook (RMU, PRISM need one)"
        )
    return best


def num_layers(model: nn.Module) -> int:
    return len(decoder_layers(model)[1])


def hidden_size(model: nn.Module) -> int:
    """The width of the residual stream: the input embeddings' dimension."""
    return model.get_input_embeddings().weight.shape[-1]


def _maps(module: nn.Module) -> tuple[int, int] | None:
    """(in, out) features of a linear map (``nn.Linear`` or GPT-2's ``Conv1D``), else None."""
    if isinstance(module, nn.Linear):
        return module.in_features, module.out_features
    weight, nf = getattr(module, "weight", None), getattr(module, "nf", None)
    if nf is not None and weight is not None and weight.dim() == 2:  # Conv1D: weight (in, out)
        return weight.shape[0], nf
    return None


def mlp_output_projection(layer: nn.Module, hidden: int) -> str:
    """The name (inside ``layer``) of the map from the MLP's width back to ``hidden``."""
    found = [
        name
        for name, module in layer.named_modules()
        if (shape := _maps(module)) is not None and shape[1] == hidden and shape[0] > hidden
    ]
    if len(found) != 1:
        raise UserError(
            f"cannot tell the MLP output projection of {type(layer).__name__} "
            f"(candidates: {', '.join(found) or 'none'}); set params.module to a submodule path"
        )
    return found[0]


def layer_parameter_prefixes(model: nn.Module, layers: list[int], module: str) -> list[str]:
    """Name prefixes of the parameters of ``module`` in each of ``layers``.

    ``module``: ``mlp_out`` (found by inspection), ``all`` (the whole layer) or a dotted path inside
    the layer (``mlp``, ``self_attn``, ``mlp.down_proj``).
    """
    stack_name, stack = decoder_layers(model)
    prefixes = []
    for i in layers:
        if not 0 <= i < len(stack):
            raise UserError(f"layer {i} does not exist: this model has layers 0..{len(stack) - 1}")
        layer = stack[i]
        if module == "all":
            sub = ""
        elif module == MLP_OUT:
            sub = mlp_output_projection(layer, hidden_size(model))
        else:
            names = dict(layer.named_modules())
            if module not in names:
                children = ", ".join(n for n, _ in layer.named_children())
                raise UserError(
                    f"{type(layer).__name__} has no submodule '{module}' (it has: {children})"
                )
            sub = module
        prefixes.append(".".join(p for p in (stack_name, str(i), sub) if p) + ".")
    return prefixes


def final_norm(model: nn.Module) -> nn.Module:
    """The norm the model applies after its last decoder layer, before the unembedding: the one
    normalisation module beside the decoder stack (Llama's ``model.norm``, GPT-2's
    ``transformer.ln_f``, OPT's ``model.decoder.final_layer_norm``)."""
    stack_name, _ = decoder_layers(model)
    parent = model.get_submodule(stack_name.rpartition(".")[0])
    norms = [m for _, m in parent.named_children() if "norm" in type(m).__name__.lower()]
    if len(norms) != 1:
        raise UserError(
            f"cannot tell the final norm of {type(model).__name__}: "
            f"{len(norms)} norm modules beside its decoder layers (the logit lens needs one)"
        )
    return norms[0]
