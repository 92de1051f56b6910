"""MRC maps: checked reading and atomic writing with the voxel size kept."""
import os

import mrcfile
import numpy as np

from relion_dem.core.io.atomic import atomic_output


class MapError(ValueError):
    """A map is missing, unreadable, or not what the caller needs."""


def read(path, cubic=False):
    """Return ``(data float32 array (z, y, x), voxel size in Å)``.

    Raises :class:`MapError` naming the file if it is missing, corrupt,
    not 3D, non-finite, or (with ``cubic``) not a cube.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise MapError('%s: map file does not exist' % path)
    try:
        with mrcfile.open(path, permissive=True) as m:
            if m.data is None:
                raise MapError('%s: not a readable MRC map (no data block)' % path)
            data = np.array(m.data, dtype=np.float32)
            voxel = float(m.voxel_size.x)
    except MapError:
        raise
    except Exception as e:  # mrcfile raises ValueError/OSError/EOFError subclasses
        raise MapError('%s: not a readable MRC map (%s)' % (path, e))
    if data.ndim != 3:
        raise MapError('%s: expected a 3D map, found shape %s' % (path, data.shape))
    if cubic and len(set(data.shape)) != 1:
        raise MapError('%s: expected a cubic map, found shape %s' % (path, data.shape))
    if not np.all(np.isfinite(data)):
        raise MapError('%s: map contains NaN or Inf values' % path)
    return data, voxel


def read_selection(path, select):
    """``select(data)`` of the map at ``path``, memory-mapped: only what ``select`` indexes is
    read (a padded Fourier array can be many times the map). The result must be finite;
    :class:`MapError` naming the file otherwise."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise MapError('%s: map file does not exist' % path)
    try:
        with mrcfile.mmap(path, mode='r', permissive=True) as m:
            if m.data is None:
                raise MapError('%s: not a readable MRC map (no data block)' % path)
            data = np.array(select(m.data), dtype=np.float32)
    except MapError:
        raise
    except Exception as e:  # mrcfile's errors, and ``select``'s ValueError
        raise MapError('%s: not a readable MRC map, or not the one expected (%s)' % (path, e))
    if not np.all(np.isfinite(data)):
        raise MapError('%s: map contains NaN or Inf values' % path)
    return data


def write(path, data, voxel_size):
    """Write a float32 map atomically (temp file + rename) with its voxel size."""
    data = np.ascontiguousarray(data, dtype=np.float32)
    with atomic_output(path) as tmp:
        with mrcfile.new(tmp, overwrite=True) as m:
            m.set_data(data)
            m.voxel_size = float(voxel_size)
            m.update_header_stats()
    return os.fspath(path)
