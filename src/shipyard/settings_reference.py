"""The settings reference, ``docs/settings.md``, generated from the ``Settings`` fields."""

from __future__ import annotations

from shipyard.settings import Settings


def reference_markdown() -> str:
    """``docs/settings.md``: every setting with its variable, default and description, made
    from the fields themselves so the reference cannot drift from the code (a unit test
    compares the file with this; ``make docs`` rewrites it)."""
    lines = [
        "# Settings reference",
        "",
        "Generated from `shipyard.settings.Settings` by `make docs`; a test fails when it is",
        "stale. Values come from (highest first) explicit arguments, `SHIPYARD_*` environment",
        "variables, a TOML file named by `SHIPYARD_CONFIG` (the same names without the prefix),",
        "then these defaults.",
        "",
        "| variable | default | meaning |",
        "|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        shown = "–" if default is None else f"`{default}`"
        if field.annotation is not None and "SecretStr" in str(field.annotation):
            shown = "–" if default is None else "(secret)"
        text = " ".join((field.description or "").split()).replace("|", "\\|")
        lines.append(f"| `SHIPYARD_{name.upper()}` | {shown} | {text} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python -m shipyard.settings_reference > docs/settings.md
    print(reference_markdown(), end="")
