"""automate: define, run and follow jobs from Python.

A thin layer over libautomate (the engine behind the ``automate`` CLI and the
``automated`` daemon). Two ways in, with the same methods (BaseEngine):

- ``automate.Engine(state_dir=None)`` embeds the engine in this process, on a
  state dir (default: the CLI's, see default_state_dir());
- ``automate.Client(server, token=None)`` talks to an ``automated`` daemon.

Example::

    import automate

    engine = automate.Engine("/tmp/automate-demo")   # or automate.Client(url, token)
    engine.apply({"name": "greet",
                  "executor": {"local": {"command": ["sh", "-c", "echo hello $WHO"]}},
                  "params": [{"name": "WHO", "default": "world"}]})
    execution = engine.run("greet", WHO="Ada").wait()
    print(execution.state, execution.exit_code)     # succeeded 0
    for line in execution.logs().lines():
        print(line)                                 # hello Ada

Errors are subclasses of automate.Error (ValidationError, NotFound,
PermissionDenied, Conflict, Timeout, Unavailable) carrying the messages the
CLI prints. Blocking calls release the GIL; Ctrl-C interrupts wait() and a
following logs(). Job files: docs/job-file.md.
"""

from ._automate import (
    FINAL_STATES,
    Attempt,
    BaseEngine,
    Client,
    Conflict,
    Engine,
    Error,
    Execution,
    Job,
    LogLines,
    LogRecord,
    LogStream,
    NotFound,
    Param,
    PermissionDenied,
    Secret,
    Timeout,
    Unavailable,
    ValidationError,
    __version__,
    default_state_dir,
)

__all__ = [
    "FINAL_STATES",
    "Attempt",
    "BaseEngine",
    "Client",
    "Conflict",
    "Engine",
    "Error",
    "Execution",
    "Job",
    "LogLines",
    "LogRecord",
    "LogStream",
    "NotFound",
    "Param",
    "PermissionDenied",
    "Secret",
    "Timeout",
    "Unavailable",
    "ValidationError",
    "__version__",
    "default_state_dir",
]

# The classes are defined in automate._automate; show them as automate.X in
# help() and reprs, where users find them.
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) and _obj.__module__ == "automate._automate":
        _obj.__module__ = __name__
default_state_dir.__module__ = __name__
del _name, _obj
