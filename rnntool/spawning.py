"""multiprocessing's spawn start, without the caller's ``__main__``.

A spawned child first imports the parent's main script, to find anything pickled from it.
A user's script without an ``if __name__ == "__main__":`` guard then runs again in every
child: ``classify_file`` called from such a script hung (each child started workers of its
own). Nothing sent to rnntool's workers comes from ``__main__`` (the functions are
rnntool's), so their children skip it -- and skip importing the CLI again from the
``rnntool`` script.
"""

from __future__ import annotations

import threading
from multiprocessing import spawn
from multiprocessing.context import SpawnContext, SpawnProcess

_starting = threading.Lock()


def _without_main(prepare):
    def preparation_data(name):
        data = prepare(name)
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
        return data
    return preparation_data


class SpawnWithoutMainProcess(SpawnProcess):
    @staticmethod
    def _Popen(process_obj):
        # The child's start-up data comes from spawn.get_preparation_data, looked up as the
        # process starts: swapped for this start only (the lock keeps two starts here from
        # swapping each other's; another library starting a process in that millisecond would
        # also start it without its main module).
        with _starting:
            prepare = spawn.get_preparation_data
            spawn.get_preparation_data = _without_main(prepare)
            try:
                return SpawnProcess._Popen(process_obj)
            finally:
                spawn.get_preparation_data = prepare


class SpawnWithoutMainContext(SpawnContext):
    Process = SpawnWithoutMainProcess
