"""Grading a learner's exercise.py out of reach of the answers: a static check, then a separate Python process.

1. `static_check(path, name)` reads the file without running it and rejects what no exercise needs and a gamed one
   does: importing anything but the standard library's maths helpers, numpy and torch (so never `minirl`, whose
   functions are the reference solutions, nor the graders), exec/eval/open/__import__, and frame or global
   introspection (`sys._getframe`, `f_back`, `__globals__`, ...) that would find the grader's reference on the
   call stack.
2. `Sandbox` runs the file in a child process started with `python -I` (no user site, no script folder on the path)
   that blocks `minirl`, the graders and the tests at import time. The grader stays in this process: it sends the
   inputs of each case, the child calls the learner's function and sends back the output (and the inputs as they
   are after the call, so in-place updates are seen here). Nothing the learner's code does can reach the reference,
   the grader's expected values or its comparison code, and what comes back is unpickled by an unpickler that only
   builds numpy arrays, torch tensors and plain Python values (a learner's ndarray subclass with a friendly `__eq__`
   is refused).

The child is a small fork server: it imports numpy and torch once (seconds), then forks one fresh process per
exercise file, so one file cannot patch what the next one sees. A call that runs longer than `timeout` seconds is
killed and counts as a wrong case.
"""

from __future__ import annotations

import ast
import io
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
from pathlib import Path

# What exercise.py may import: the standard library's maths helpers, numpy and torch. Nothing from minirl.
ALLOWED_IMPORTS = {
    "__future__",
    "math",
    "cmath",
    "numbers",
    "functools",
    "itertools",
    "operator",
    "typing",
    "collections",
    "dataclasses",
    "heapq",
    "bisect",
    "statistics",
    "numpy",
    "torch",
}
FORBIDDEN_CALLS = {
    "exec",
    "eval",
    "compile",
    "__import__",
    "open",
    "breakpoint",
    "input",
    "globals",
    "vars",
}
FORBIDDEN_ATTRIBUTES = {
    "_getframe",
    "f_back",
    "f_globals",
    "f_locals",
    "f_code",
    "gi_frame",
    "tb_frame",
    "__globals__",
    "__builtins__",
    "__subclasses__",
    "__code__",
    "__closure__",
    "modules",
}
# how a file's process ends after "close"; any other end is a crash (os._exit, a segfault, a kill)
CLEAN_EXIT = 17
BLOCKED_MODULES = (
    "minirl",
    "graders",
    "minirl_graders",
    "adapters",
    "conftest",
    "sandbox",
    "tests",
    "test_",
)


# ---------------------------------------------------------------------------------------------- static check


def static_check(path: Path, name: str | None = None) -> str | None:
    """None if exercise.py may be graded, else the first reason it may not (with its line number).

    Checks the module's top level and, when `name` is given, that function's body (other functions are checked
    when their own exercise is graded)."""
    try:
        tree = ast.parse(Path(path).read_text(), str(path))
    except SyntaxError as e:
        return f"exercise.py does not parse: line {e.lineno}: {e.msg}"
    nodes = [
        n
        for n in tree.body
        if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    ]
    nodes += [
        n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == name
    ]
    # a helper class is checked with every function
    nodes += [n for n in tree.body if isinstance(n, ast.ClassDef)]
    for top in nodes:
        for node in ast.walk(top):
            problem = _forbidden(node)
            if problem:
                return f"exercise.py line {node.lineno}: {problem} (see lessons/README.md, 'What exercise.py may use')"
    return None


def defines(path: Path, name: str) -> bool:
    """Whether exercise.py defines `name` at its top level (a def, or an assignment such as `name = helper`)."""
    try:
        tree = ast.parse(Path(path).read_text())
    except SyntaxError:
        return True  # reported by static_check
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return True
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return True
    return False


def _forbidden(node: ast.AST) -> str | None:
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name.split(".")[0] not in ALLOWED_IMPORTS:
                return _import_problem(alias.name)
    if isinstance(node, ast.ImportFrom):
        if node.level or (node.module or "").split(".")[0] not in ALLOWED_IMPORTS:
            return _import_problem("." * node.level + (node.module or ""))
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in FORBIDDEN_CALLS
    ):
        return f"calls {node.func.id}(), which no exercise needs"
    if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_ATTRIBUTES:
        return f"uses .{node.attr} (frame, global or module introspection)"
    if isinstance(node, ast.Name) and node.id in ("__builtins__", "__loader__", "__spec__"):
        return f"uses {node.id}"
    return None


def _import_problem(module: str) -> str:
    if module.split(".")[0] == "minirl":
        return (
            f"imports {module}: minirl holds the reference solutions; write the function yourself"
        )
    return (
        f"imports {module}, which exercise.py may not use (allowed: numpy, torch, math and similar)"
    )


# ---------------------------------------------------------------------------------------------- the wire


def send(fd: int, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    os.write(fd, struct.pack("<Q", len(data)))
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def recv_bytes(fd: int, timeout: float | None = None) -> bytes:
    if timeout is not None and not select.select([fd], [], [], timeout)[0]:
        raise TimeoutError
    header = _read_exactly(fd, 8)
    return _read_exactly(fd, struct.unpack("<Q", header)[0])


def _read_exactly(fd: int, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("the grading process closed its pipe")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


SAFE_GLOBALS = {
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy", "dtype"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.multiarray", "scalar"),
}


class SafeUnpickler(pickle.Unpickler):
    """Builds numpy arrays, numpy scalars and plain Python values, nothing else: the answer is encoded by `encode`
    on the other side (tensors as arrays), so no class of the learner's and no reduce call of theirs runs here."""

    def find_class(self, module: str, name: str):
        if (module, name) in SAFE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused to build {module}.{name}")


def safe_loads(data: bytes):
    return decode(SafeUnpickler(io.BytesIO(data)).load())


TENSOR, ARRAY, OTHER = "<tensor>", "<array>", "<other>"


def encode(x):
    """(child side) A returned value as plain data: tensors and arrays as numeric numpy arrays, containers rebuilt;
    anything else only by its type's name."""
    import numpy as np
    import torch

    if type(x) is torch.Tensor or type(x) is torch.nn.Parameter:
        t = x.detach().cpu()
        return (
            TENSOR,
            str(t.dtype).removeprefix("torch."),
            (t.float() if t.dtype == torch.bfloat16 else t).numpy(),
            bool(x.requires_grad),
        )
    if type(x) is np.ndarray and x.dtype != object:
        return (ARRAY, x.copy())
    if (
        isinstance(x, np.generic)
        and type(x).__module__ == "numpy"
        and not isinstance(x, np.object_)
    ):
        return (ARRAY, np.asarray(x), "scalar")
    if type(x) in (tuple, list):
        return type(x)(encode(v) for v in x)
    if x is None or type(x) in (int, float, bool, complex, str):
        return x
    return (OTHER, f"{type(x).__module__}.{type(x).__qualname__}")


def decode(x):
    """(this side) The inverse of `encode`; an unknown type comes back as an `Unsendable` placeholder."""
    import torch

    if type(x) is tuple and x and x[0] == TENSOR:
        t = torch.from_numpy(x[2]).to(getattr(torch, x[1]))
        return t.requires_grad_(x[3]) if x[3] and t.is_floating_point() else t
    if type(x) is tuple and x and x[0] == ARRAY:
        return x[1][()] if len(x) == 3 else x[1]
    if type(x) is tuple and x and x[0] == OTHER:
        return Unsendable(x[1])
    if type(x) in (tuple, list):
        return type(x)(decode(v) for v in x)
    return x


class Unsendable:
    """Stands for a returned object that is not a number, array or tensor (it stays in the sandbox)."""

    def __init__(self, type_name: str):
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<a {self.type_name} object, not a number, array or tensor>"


# ---------------------------------------------------------------------------------------------- this side


class RemoteError(Exception):
    """An exception the learner's function raised in the sandbox (type name and message kept)."""


class Sandbox:
    """A fork server for grading exercise files: `sandbox.function(path, name)` is a callable that runs
    `name` from `path` in the sandbox. One file is loaded at a time (opening another closes the previous)."""

    def __init__(self, timeout: float = 30.0):
        self.timeout, self.proc, self.path, self.child = timeout, None, None, None
        # files whose import failed, and why (not retried for every case)
        self.unloadable: dict[Path, str] = {}

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "MINIRL"))}
        env.setdefault("OMP_NUM_THREADS", "1")
        self.proc = subprocess.Popen(
            [sys.executable, "-I", str(Path(__file__).resolve()), "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd="/",
        )
        self.to_child, self.from_child = self.proc.stdin.fileno(), self.proc.stdout.fileno()
        self._reply(timeout=120)  # "ready" once numpy and torch are imported

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc.stdin.close()
            self.proc.stdout.close()
            self.proc = None

    def _reply(self, timeout: float):
        try:
            status, *rest = safe_loads(recv_bytes(self.from_child, timeout))
        except TimeoutError:
            try:
                os.kill(self.child, signal.SIGKILL)
            except (ProcessLookupError, TypeError):
                pass
            self.path = None
            safe_loads(recv_bytes(self.from_child, 30))  # the fork server reports the killed child
            raise RemoteError(
                f"TimeoutError: no answer within {timeout:.0f} s (an endless loop?)"
            ) from None
        except pickle.UnpicklingError as e:
            self._reset()
            raise RemoteError(f"UnpicklingError: {e}") from None
        except EOFError:
            self.close()
            raise RemoteError("the sandbox process died") from None
        if status == "crashed":
            self.path = None
            raise RemoteError(f"the process running exercise.py died ({rest[0]})")
        return status, rest

    def _reset(self) -> None:
        """After an unreadable answer the stream may be out of step: start over."""
        self.close()
        self.path = None

    def _open(self, path: Path) -> None:
        if path in self.unloadable:
            raise RemoteError(self.unloadable[path])
        if self.proc is None:
            self.start()
        if self.path == path:
            return
        if self.path is not None:
            send(self.to_child, ("close",))
            self._reply(30)
        send(self.to_child, ("open", str(path)))
        status, rest = self._reply(60)
        if status == "error":
            self.path, self.unloadable[path] = None, rest[0]
            raise RemoteError(rest[0])
        self.path, self.child = path, rest[0]

    def request(self, path: Path, kind: str, name: str, args: tuple, kwargs: dict):
        self._open(Path(path).resolve())
        send(self.to_child, (kind, name, args, kwargs))
        status, rest = self._reply(self.timeout)
        if status == "not implemented":
            raise NotImplementedError(rest[0])
        if status == "raised":
            raise RemoteError(rest[0])
        return rest

    def function(self, path: Path, name: str):
        return RemoteFunction(self, Path(path), name)


class RemoteFunction:
    """Calls `name` of `path` in the sandbox; copies in-place changes of array/tensor arguments back here."""

    def __init__(self, sandbox: Sandbox, path: Path, name: str):
        self.sandbox, self.path, self.__name__ = sandbox, path, name

    def __call__(self, *args, **kwargs):
        out, after = self.sandbox.request(self.path, "call", self.__name__, args, kwargs)
        for before, now in zip(args, after):
            _copy_back(before, now)
        return out

    def loss_and_grads(self, *inputs, **kwargs):
        """graders.loss_and_grads, computed in the sandbox (an autograd graph cannot cross processes)."""
        (result,) = self.sandbox.request(self.path, "loss_and_grads", self.__name__, inputs, kwargs)
        return result


def _copy_back(before, now) -> None:
    import numpy as np
    import torch

    if isinstance(before, np.ndarray) and isinstance(now, np.ndarray) and before.shape == now.shape:
        np.copyto(before, now, casting="unsafe")
    elif (
        isinstance(before, torch.Tensor)
        and isinstance(now, torch.Tensor)
        and before.shape == now.shape
    ):
        with torch.no_grad():
            before.copy_(now)


# ---------------------------------------------------------------------------------------------- the other side


def loss_and_grads(fn, *inputs, **kwargs):
    """Calls a loss on fresh copies of the inputs (float ones as leaves that need gradients); returns (value,
    [d value / d input for every float input]) or raises."""
    import torch

    leaves = [x.detach().clone().requires_grad_(torch.is_floating_point(x)) for x in inputs]
    out = fn(*leaves, **kwargs)
    if not isinstance(out, torch.Tensor) or out.dim() != 0:
        raise TypeError(
            f"must return a scalar torch tensor, got {type(out).__name__} "
            f"{tuple(out.shape) if isinstance(out, torch.Tensor) else ''}"
        )
    if not out.requires_grad:
        raise TypeError(
            "the returned loss carries no gradient (was it detached or built with numpy?)"
        )
    floats = [x for x in leaves if x.requires_grad]
    grads = torch.autograd.grad(out, floats, allow_unused=True)
    return out.detach(), [torch.zeros_like(x) if g is None else g for x, g in zip(floats, grads)]


class _Blocker:
    """A meta-path finder that makes minirl, the graders and the tests unimportable."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0].startswith(BLOCKED_MODULES):
            raise ImportError(
                f"{fullname} cannot be imported while grading (exercise.py may use numpy and torch)"
            )
        return None


def _serve_file(requests: int, answers: int, path: str) -> None:
    """In a forked child: load the file, then answer calls until 'close'."""
    import importlib.util

    import numpy as np  # noqa: F401
    import torch

    try:
        spec = importlib.util.spec_from_file_location("exercise", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["exercise"] = module
        spec.loader.exec_module(module)
    except BaseException as e:  # noqa: BLE001
        send(
            answers,
            ("error", f"cannot import exercise.py: {type(e).__name__}: {e}".splitlines()[0]),
        )
        os._exit(CLEAN_EXIT)
    send(answers, ("opened", os.getpid()))
    while True:
        try:
            request = pickle.loads(recv_bytes(requests))
        except EOFError:
            os._exit(CLEAN_EXIT)
        if request[0] == "close":
            send(answers, ("closed",))
            os._exit(CLEAN_EXIT)
        kind, name, args, kwargs = request
        try:
            fn = getattr(module, name, None)
            if fn is None:
                raise AttributeError(f"exercise.py has no function {name}")
            if kind == "loss_and_grads":
                reply = ("ok", encode(loss_and_grads(fn, *args, **kwargs)))
            else:
                out = fn(*args, **kwargs)
                reply = ("ok", encode(out), encode(list(args)))
            send(answers, reply)
        except NotImplementedError as e:
            send(answers, ("not implemented", str(e)))
        except BaseException as e:  # noqa: BLE001  (anything else is a wrong answer, reported by name)
            try:
                send(answers, ("raised", f"{type(e).__name__}: {e}".splitlines()[0][:500]))
            except BaseException:  # noqa: BLE001
                send(answers, ("raised", f"{type(e).__name__}"))
        torch.set_grad_enabled(True)


def serve() -> None:
    """The fork server: import numpy and torch, then fork one child per opened file and wait for it."""
    requests, answers = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    # the learner's code can neither read requests nor write answers by accident
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    sys.path[:] = [p for p in sys.path if "site-packages" in p or "lib/python" in p]
    sys.meta_path.insert(0, _Blocker())
    for name in list(sys.modules):
        if name.split(".")[0].startswith(BLOCKED_MODULES):
            del sys.modules[name]
    import numpy  # noqa: F401
    import torch  # noqa: F401

    send(answers, ("ready",))
    while True:
        try:
            request = pickle.loads(recv_bytes(requests))
        except EOFError:  # the grader is done
            os._exit(0)
        if request[0] != "open":
            send(answers, ("error", f"expected open, got {request[0]}"))
            continue
        pid = os.fork()
        if pid == 0:
            _serve_file(requests, answers, request[1])
        _, status = os.waitpid(pid, 0)
        if not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == CLEAN_EXIT):
            how = (
                f"signal {os.WTERMSIG(status)}"
                if os.WIFSIGNALED(status)
                else f"exit {os.WEXITSTATUS(status)}"
            )
            send(answers, ("crashed", how))


if __name__ == "__main__" and sys.argv[1:] == ["--serve"]:
    serve()
