#!/usr/bin/env python3
"""Regenerate the Python code and type stubs for every .proto under protos/sotay.

Usage: python protos/generate.py [--check]
  --check  generate into a temporary folder and exit 1 if protos/gen differs (stale).
"""

from __future__ import annotations

import filecmp
import os
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "gen" / "python"


def generate(out: Path) -> None:
    protos = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "sotay").rglob("*.proto"))
    out.mkdir(parents=True, exist_ok=True)
    include = Path(protoc.__file__).parent / "_proto"
    # The mypy plugins are installed beside this interpreter.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    args = [
        "protoc",
        f"-I{ROOT}",
        f"-I{include}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for folder in [out / "sotay", *(p for p in (out / "sotay").rglob("*") if p.is_dir())]:
        (folder / "__init__.py").touch()
    (out / "sotay" / "py.typed").touch()


def differences(a: Path, b: Path) -> list[str]:
    cmp = filecmp.dircmp(a, b, ignore=["__pycache__"])
    diffs = [*cmp.left_only, *cmp.right_only, *cmp.diff_files, *cmp.funny_files]
    for name in cmp.common_dirs:
        diffs += [f"{name}/{d}" for d in differences(a / name, b / name)]
    return diffs


def main() -> int:
    if "--check" in sys.argv:
        with tempfile.TemporaryDirectory() as tmp:
            generate(Path(tmp))
            if not OUT.exists():
                print("protos/gen/python is missing: run python protos/generate.py")
                return 1
            diffs = differences(Path(tmp), OUT)
            if diffs:
                print("generated code is stale: run python protos/generate.py; differs:", *diffs)
                return 1
        print("generated code is up to date")
        return 0
    # Generate beside the old code and swap, so a failing .proto never leaves no code at all.
    fresh = OUT.with_name("python.new")
    shutil.rmtree(fresh, ignore_errors=True)
    generate(fresh)
    shutil.rmtree(OUT, ignore_errors=True)
    fresh.rename(OUT)
    print(f"generated into {OUT.relative_to(ROOT.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
