"""The options every command shares (``IN...``, ``-o``, ``--json``, ``--jobs``, ``--msg``...) and
the message given with ``--msg``, ``--hex`` or ``--bits`` (:func:`message_spec`).

A command declares a parameter with one of these ``Annotated`` types, so that a shared
option reads and is documented the same in every command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import UsageError

InputsArgument = Annotated[list[Path], typer.Argument(metavar="IN...", show_default=False,
                                                      help="Image files, folders or quoted globs.")]
OutputOption = Annotated[Optional[Path], typer.Option("--output", "-o", metavar="OUT|DIR", show_default=False,
                                                      help="Output file, or folder for several inputs.")]
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON object per input on stdout.")]
ForceOption = Annotated[bool, typer.Option("--force", help="Overwrite an existing output file.")]
RecursiveOption = Annotated[bool, typer.Option("--recursive", "-r", help="Descend into sub-folders.")]
JobsOption = Annotated[int, typer.Option("--jobs", "-j", min=1, max=64, metavar="N",
                                         help="Photos processed at once (threads; on a GPU they share "
                                              "model passes).")]
TimeoutOption = Annotated[float, typer.Option("--timeout", min=0.01, metavar="SECONDS",
                                              help="Give up on a photo that takes longer; the others go on.")]
RayOption = Annotated[Optional[str], typer.Option("--ray", metavar="ADDRESS", show_default=False,
                                                 help="Run on Ray: local (a new local instance), auto (the running "
                                                      "cluster) or HOST:PORT; -j N: N actors. "
                                                      "Needs pip install 'wmark\\[ray]'.")]
QualityOption = Annotated[Optional[int], typer.Option("--quality", min=1, max=100, metavar="Q", show_default=False,
                                                      help="Quality of a JPEG/WebP output (default: a JPEG input's own, else 95).")]
ModelOption = Annotated[Optional[str], typer.Option("--model", metavar="NAME", show_default=False,
                                                    help="Packaged model (see `wmark models`).")]
KeyOption = Annotated[Optional[Path], typer.Option("--key", metavar="FILE", show_default=False,
                                                  help="Secret key file (`wmark keygen`): only it reads the mark.")]
MESSAGE_PANEL = "Message"
MsgOption = Annotated[Optional[str], typer.Option("--msg", metavar="TEXT", show_default=False,
                                                  help="Message text (UTF-8).", rich_help_panel=MESSAGE_PANEL)]
HexOption = Annotated[Optional[str], typer.Option("--hex", metavar="HEX", show_default=False,
                                                  help="Message bytes as hexadecimal.",
                                                  rich_help_panel=MESSAGE_PANEL)]
BitsOption = Annotated[Optional[str], typer.Option("--bits", metavar="0101…", show_default=False,
                                                   help="Raw bits, no error correction (research).",
                                                   rich_help_panel=MESSAGE_PANEL)]


@dataclass(frozen=True)
class MessageSpec:
    """The message given on the command line: ``kind`` is ``text``, ``hex`` or ``bits``.

    ``value`` is normalised: hex in lower case without spaces or ``0x``, bits as 0/1.
    """

    kind: str
    value: str

    @property
    def data(self) -> bytes | None:
        """The message bytes (UTF-8 text or decoded hex); None for raw bits."""
        if self.kind == "text":
            return self.value.encode("utf-8")
        if self.kind == "hex":
            return bytes.fromhex(self.value)
        return None


_SPACES = re.compile(r"[\s_:]+")


def message_spec(msg: str | None, hex_: str | None, bits: str | None, *,
                 required: bool = True) -> MessageSpec | None:
    """Exactly one of ``--msg/--hex/--bits``, checked for form (UsageError, exit 2).

    Capacity (too long for the model) is the payload codec's to check.
    """
    given = [(kind, value) for kind, value in (("text", msg), ("hex", hex_), ("bits", bits)) if value is not None]
    if len(given) > 1:
        raise UsageError("give only one of --msg, --hex and --bits")
    if not given:
        if required:
            raise UsageError("give the message with --msg TEXT, --hex HEX or --bits 0101…")
        return None
    kind, value = given[0]
    if kind == "text":
        if value == "":
            raise UsageError("--msg is empty")
        return MessageSpec(kind, value)
    value = _SPACES.sub("", value)
    if kind == "hex":
        value = value[2:] if value[:2].lower() == "0x" else value
        if not value or len(value) % 2 or not all(c in "0123456789abcdefABCDEF" for c in value):
            raise UsageError(f"--hex wants an even number of hexadecimal digits, got {hex_!r}")
        return MessageSpec(kind, value.lower())
    if not value or set(value) - {"0", "1"}:
        raise UsageError(f"--bits wants a string of 0 and 1, got {bits!r}")
    return MessageSpec(kind, value)
