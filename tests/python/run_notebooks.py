"""Execute every notebook in notebooks/ headless; fail if any cell fails or outputs are committed.

    python3 tests/python/run_notebooks.py [NOTEBOOK ...] [--out DIR] [--strip]

Each notebook runs top to bottom in a fresh kernel of this Python (so run it with the venv's
python: the kernel sees the same packages), with notebooks/ as its working directory and the
caller's environment (BILENS_BIN, BILENS_RESULTS, ... as listed in notebooks/bilens_nb.py).

Before executing, checks that the committed notebook carries no outputs or execution counts
(results belong in results directories, not in the repository's diffs); `--strip` removes them
in place instead, for use before committing an edited notebook. `--out DIR` saves the executed
copies there for inspection. Exits 1 if any notebook failed.
"""

import argparse
import os
import pathlib
import sys
import tempfile
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from jupyter_client.kernelspec import NATIVE_KERNEL_NAME, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"


def dirty_cells(nb):
    """Indices of code cells that carry outputs, an execution count or execution timings."""
    return [i for i, cell in enumerate(nb.cells)
            if cell.cell_type == "code"
            and (cell.outputs or cell.execution_count is not None or "execution" in cell.metadata)]


def strip(nb):
    """Remove what running a notebook adds: outputs, counts, timings, the kernel's version."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
    if "language_info" in nb.metadata:
        nb.metadata.language_info = {"name": nb.metadata.language_info.get("name", "python")}
    return nb


class ThisPython(KernelSpecManager):
    """Kernel specs whose `python3` kernel is this interpreter.

    jupyter_client prefers a `python3` kernel spec installed for the user or the system, which
    may be another Python without our packages; pinning the native kernel to sys.executable
    runs the notebooks in the environment that runs this script (the venv in CI).
    """

    def get_kernel_spec(self, kernel_name):
        spec = super().get_kernel_spec(kernel_name)
        if kernel_name == NATIVE_KERNEL_NAME:
            spec.argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        return spec


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=pathlib.Path,
                        help="notebooks to run (default: every notebooks/*.ipynb)")
    parser.add_argument("--out", type=pathlib.Path, help="save executed copies here")
    parser.add_argument("--strip", action="store_true",
                        help="remove outputs in place and exit, executing nothing")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell (600)")
    args = parser.parse_args()
    paths = args.notebooks or sorted(NOTEBOOKS.glob("*.ipynb"))
    if not paths:
        sys.exit(f"no notebooks in {NOTEBOOKS}")

    if args.strip:
        for path in paths:
            nb = nbformat.read(path, as_version=4)
            before = nbformat.writes(nb)
            if nbformat.writes(strip(nb)) != before:
                nbformat.write(nb, path)
                print(f"stripped {path}")
        return 0

    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    # The kernels run in notebooks/, and bilens_nb reads relative paths from the repository
    # root: make the caller's relative BILENS_* paths absolute, as they meant them.
    for name, value in os.environ.items():
        if name.startswith("BILENS_") and value and not os.path.isabs(value):
            os.environ[name] = os.path.abspath(value)
    # IPC (Unix sockets) rather than TCP on localhost where possible: no port is opened, and
    # ipykernel does not warn about unencrypted TCP. The socket path must be absolute, since
    # the kernel runs in another directory than this script.
    sockets = tempfile.TemporaryDirectory(prefix="bilens-kernels-")
    transport = {"transport": "ipc", "ip": os.path.join(sockets.name, "kernel")} \
        if os.name == "posix" else {}
    failed = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        dirty = dirty_cells(nb)
        if dirty:
            print(f"FAIL  {path.name}: cells {dirty} carry outputs; strip them with "
                  f"`python {pathlib.Path(__file__).relative_to(ROOT)} --strip` (in the venv)")
            failed.append(path.name)
            continue
        start = time.perf_counter()
        kernel = AsyncKernelManager(kernel_name=NATIVE_KERNEL_NAME,
                                    kernel_spec_manager=ThisPython(), **transport)
        client = NotebookClient(nb, km=kernel, timeout=args.timeout,
                                resources={"metadata": {"path": str(path.parent)}})
        try:
            client.execute()
            print(f"ok    {path.name}  ({time.perf_counter() - start:.1f} s)")
        except CellExecutionError as error:
            # The error text holds the failing cell's source and its traceback.
            print(f"FAIL  {path.name}  ({time.perf_counter() - start:.1f} s)\n{error}")
            failed.append(path.name)
        finally:
            # nbclient leaves a kernel it did not create running: stop it here.
            if kernel.has_kernel:
                run_sync(kernel.shutdown_kernel)(now=True)
            if args.out:
                nbformat.write(nb, args.out / path.name)

    if failed:
        print(f"{len(failed)} notebook(s) failed: {', '.join(failed)}")
        return 1
    print(f"all {len(paths)} notebooks ran")
    return 0


if __name__ == "__main__":
    sys.exit(main())
