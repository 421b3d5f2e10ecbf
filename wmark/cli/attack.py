"""``wmark attack``: real attacks on a photo, in the order given, with options generated
from the attack registry (:data:`wmark.attacks.REGISTRY`) and the presets.

Click keeps no order between different options, so :class:`AttackCommand` records the
order in which they appeared; :func:`ordered_chain` turns it into the chain to apply.
Only the registry (no NumPy) is loaded to build the options, so ``--help`` stays fast.
"""

from __future__ import annotations

import enum
import inspect
import os
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperCommand

from ..errors import EXIT_NOT_FOUND, EXIT_OK, UsageError
from .files import check_output, read_input
from .options import (BitsOption, ForceOption, HexOption, JsonOption, MessageSpec, ModelOption, MsgOption,
                      QualityOption, message_spec)
from .printing import note
from .runner import Outcome, run_per_input

ATTACK_PANEL = "Attacks (applied in the order given; repeat one to apply it twice)"
_PREFIX = "attack__"  # parameter names of the generated options: attack__salt_pepper, ...
_ORDER_KEY = "wmark.param_order"
Step = tuple[str, Any]


class AttackCommand(TyperCommand):
    """Records the order in which the options appeared, which click does not keep."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            _, _, order = self.make_parser(ctx).parse_args(args=list(args))
        except Exception:  # the real parse below reports the error
            order = []
        ctx.meta[_ORDER_KEY] = [param.name for param in order]
        return super().parse_args(ctx, args)


def _entries() -> list[Any]:
    from ..attacks import REGISTRY

    return list(REGISTRY.values())


def _param_name(entry: Any) -> str:
    return _PREFIX + entry.name.replace("-", "_")


def _attack_parameters() -> list[inspect.Parameter]:
    """One repeatable option per registry entry, its type, range and help from the entry."""
    parameters = []
    for entry in _entries():
        numeric = entry.type in (int, float)
        option = typer.Option(
            f"--{entry.name}", help=entry.help, metavar=entry.param, show_default=False,
            min=entry.low if numeric else None, max=entry.high if numeric else None,
            rich_help_panel=ATTACK_PANEL,
        )
        annotation = Annotated[Optional[list[entry.type]], option]  # type: ignore[name-defined]
        parameters.append(inspect.Parameter(_param_name(entry), inspect.Parameter.KEYWORD_ONLY,
                                            default=None, annotation=annotation))
    return parameters


def _preset_type() -> type[enum.Enum]:
    from ..attacks import PRESETS

    return enum.Enum("Preset", {name: name for name in PRESETS}, type=str)  # type: ignore[return-value]


def ordered_chain(ctx: Any) -> list[Step]:
    """The attacks to apply, in command-line order, each preset expanded where it stood."""
    from ..attacks import preset_chain

    names = {_param_name(entry): entry.name for entry in _entries()}
    values = {key: iter(ctx.params.get(key) or ()) for key in names}
    presets = iter(ctx.params.get("preset") or ())
    chain: list[Step] = []
    for key in ctx.meta.get(_ORDER_KEY, []):
        if key in names:
            chain.append((names[key], next(values[key])))
        elif key == "preset":
            name = next(presets)
            chain.extend(preset_chain(getattr(name, "value", name)))
    return chain


def describe_chain(chain: Sequence[Sequence[Any]]) -> str:
    """``jpeg 50 → resize 0.5`` (``no attack`` for an empty chain)."""
    def value(v: Any) -> str:
        return f"{v:g}" if isinstance(v, (int, float)) else repr(v)

    return " → ".join(f"{name} {value(v)}" for name, v in chain) or "no attack"


def attack(
    ctx: typer.Context,
    source: Annotated[Path, typer.Argument(metavar="IN", show_default=False, help="Image to attack.")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", metavar="OUT", show_default=False,
                                                  help="Attacked image (format from its extension).")] = None,
    preset: Annotated[Optional[list[str]], typer.Option(
        "--preset", metavar="NAME", show_default=False, rich_help_panel=ATTACK_PANEL,
        help="A column of `wmark bench` (none, jpeg50, rot2, ..., social, screenshot, flip; see docs/cli.md), "
             "applied where it stands.",
    )] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the random attacks (same seed, same output).")] = 0,
    quality: QualityOption = None,
    force: ForceOption = False,
    json_output: JsonOption = False,
    check: Annotated[bool, typer.Option("--check", rich_help_panel="Message", help=(
        "Extract from the attacked image and report whether the message survived (exit 1 if not)."))] = False,
    msg: MsgOption = None,
    hex_: HexOption = None,
    bits: BitsOption = None,
    model: ModelOption = None,
) -> None:
    """Apply attacks to an image in the order given, e.g. [b]wmark attack in.png --jpeg 50 --crop 0.8 -o out.jpg[/b].

    Deterministic for a seed. The output is written atomically, never over the input; an existing output needs --force.

    With --check and --msg/--hex/--bits the attacked image is decoded and survival reported (exit 1 when the message was lost).
    """
    spec = message_spec(msg, hex_, bits, required=check)
    if spec is not None and not check:
        raise UsageError("--msg/--hex/--bits need --check")
    chain = ordered_chain(ctx)
    if not chain and not preset and not check:
        raise UsageError("no attack given (see `wmark attack --help`)")
    if output is None and not check:
        raise UsageError("missing option '-o' / '--output'")
    from ..attacks import check_chain

    chain = check_chain(chain)  # every value checked before any work

    def work(path: Path) -> Outcome:
        if output is not None:
            check_output(path, output, force=force)
        from ..attacks import apply_chain
        from ..imageio import write_image

        image = read_input(path)
        attacked = apply_chain(image, chain, seed=seed)
        record: dict[str, Any] = {"output": os.fspath(output) if output else None,
                                  "attacks": [[name, value] for name, value in chain], "seed": seed}
        if output is not None:
            write_image(output, attacked, quality=quality, force=force, inputs=[path])
            if not json_output:
                note(f"{output}: {describe_chain(chain)}")
        if not check:
            return Outcome(record)
        assert spec is not None
        survival = check_survival(attacked, spec, model)
        record.update(survival)
        detail = (f"bit accuracy {survival['bit_accuracy']:.3f}" if "bit_accuracy" in survival
                  else f"read {survival.get('message')!r}")
        text = f"{'survived' if survival['survived'] else 'lost'}: {describe_chain(chain)} ({detail})"
        return Outcome(record, text=text, exit_code=EXIT_OK if survival["survived"] else EXIT_NOT_FOUND)

    status = run_per_input([source], work, json_output=json_output, label="attack")
    if status:
        raise typer.Exit(status)


def check_survival(image: Any, spec: MessageSpec, model: str | None) -> dict[str, Any]:
    """Decode the attacked ``image`` (a LoadedImage) and say whether ``spec``'s message survived."""
    from .. import api

    result = api.extract(image.rgb, model=model or "default")
    report: dict[str, Any] = {key: value for key, value in result.to_dict().items() if key != "bits"}
    if spec.kind == "bits":
        got, want = result.bit_string, spec.value
        report["bit_accuracy"] = sum(a == b for a, b in zip(got, want)) / len(want)
        report["survived"] = got == want
    elif spec.kind == "hex":
        report["survived"] = result.found and result.message.hex() == spec.value
    else:
        report["survived"] = result.found and result.message.text() == spec.value
    return report


def register(app: typer.Typer) -> None:
    """Add ``attack`` to ``app``, with one generated option per registry entry."""
    hints = typing.get_type_hints(attack, include_extras=True)
    fixed = [p.replace(annotation=hints[p.name]) for p in inspect.signature(attack).parameters.values()]
    for index, parameter in enumerate(fixed):
        if parameter.name == "preset":  # a choice among the preset names (and their completion)
            info = hints["preset"].__metadata__[0]
            fixed[index] = parameter.replace(annotation=Annotated[Optional[list[_preset_type()]], info])  # type: ignore[misc]

    def command(**kwargs: Any) -> None:
        attack(**{key: value for key, value in kwargs.items() if not key.startswith(_PREFIX)})

    signature = inspect.Signature([*fixed, *_attack_parameters()])
    command.__doc__ = attack.__doc__
    command.__name__ = command.__qualname__ = "attack"
    command.__signature__ = signature  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in signature.parameters.values()}
    app.command("attack", cls=AttackCommand)(command)
