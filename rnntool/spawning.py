"""multiprocessing's spawn start, without the caller's ``__main__``.

A spawned child first imports the parent's main script, to find anything pickled from it.
A user's script without an ``if __name__ == "__main__":`` guard then runs again in every
child: ``classify_file`` called from such a script hung (each child started workers of its
own). Nothing sent to rnntool's workers comes from ``__main__`` (the functions are
rnntool's), so their children skip it -- and skip importing the CLI again from the
``rnntool`` script.

The child's start-up data comes from ``multiprocessing.spawn.get_preparation_data``, looked
up as each process starts. It is wrapped once, when this module is first imported: the
wrapper leaves the main module out only for a start made by ``SpawnWithoutMainProcess`` in
the same thread, and changes nothing for anyone else's processes.
"""

from __future__ import annotations

import threading
from multiprocessing import spawn
from multiprocessing.context import SpawnContext, SpawnProcess

_here = threading.local()  # .without_main: this thread is starting one of rnntool's workers


def _wrapped(prepare):
    def preparation_data(name):
        data = prepare(name)
        if getattr(_here, "without_main", False):
            data.pop("init_main_from_path", None)
            data.pop("init_main_from_name", None)
        return data

    preparation_data.rnntool_without_main = True
    return preparation_data


if not getattr(spawn.get_preparation_data, "rnntool_without_main", False):
    spawn.get_preparation_data = _wrapped(spawn.get_preparation_data)


class SpawnWithoutMainProcess(SpawnProcess):
    @staticmethod
    def _Popen(process_obj):
        _here.without_main = True
        try:
            return SpawnProcess._Popen(process_obj)
        finally:
            _here.without_main = False


class SpawnWithoutMainContext(SpawnContext):
    Process = SpawnWithoutMainProcess
