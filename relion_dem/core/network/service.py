"""The persistent network worker: TensorFlow and the model load once, then serve every call.

A one-shot worker starts TensorFlow and loads the model on each regularized call (8-12 s on
two CPU cores, more than the denoising). Instead, the network backend runs this *client*
with the network environment's python::

    python .../relion_dem/core/network/service.py [--idle S] [--dir D] -- WORKER ARGUMENTS

It hands the worker arguments (those of :mod:`.worker`) to a *server* listening on a Unix
socket and prints its one-line answer. The first call starts the server (one per
environment python, model file and thread count; calls of both halves and of concurrent
refinements share it); the server exits after ``--idle`` seconds without calls.

Failure semantics, as the runtime expects of any enhancer:

- the server cannot start (no socket directory, TensorFlow broken, ...): the client says why
  and denoises once in its own process, like the one-shot worker;
- the server dies during a call: the client exits 1 with the server log's last lines and
  the runtime keeps the plain reconstruction; the next call starts a fresh server;
- the runtime times the call out (SIGTERM to the client): the client kills the server too,
  since a call that never returns means a stuck server, so the next call starts afresh.

Sockets, locks and server logs live in ``$RELION_DEM_SERVER_DIR``, else
``<tmp>/relion_dem-<uid>`` (mode 0700, refused if another user owns it or others may write).
"""
import argparse
import fcntl
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

if __package__ in (None, ''):  # run by file path: make the relion_dem package importable
    sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..')))

#: seconds a server waits for calls before it exits
DEFAULT_IDLE_S = 600.0
#: seconds a starting server may take to load TensorFlow and the model
START_TIMEOUT_S = 300.0
#: seconds a running server may take to greet a new connection
HELLO_TIMEOUT_S = 30.0


class ServerUnavailable(RuntimeError):
    """No server can be reached or started (the client then denoises in its own process)."""


class ServerFailed(RuntimeError):
    """The server took the call but gave no answer (it died or was killed)."""


# ----------------------------------------------------------------- where servers live
def server_dir(path=None):
    """The private directory of sockets, locks and logs (created 0700, checked)."""
    import tempfile
    path = path or os.environ.get('RELION_DEM_SERVER_DIR') or os.path.join(
        tempfile.gettempdir(), 'relion_dem-%d' % os.getuid())
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.stat(path)
    except OSError as e:
        raise ServerUnavailable('server directory %s: %s' % (path, e.strerror or e))
    if st.st_uid != os.getuid() or st.st_mode & 0o022:
        raise ServerUnavailable('server directory %s is not private (owner uid %d, mode %o); remove it or set '
                                'RELION_DEM_SERVER_DIR' % (path, st.st_uid, st.st_mode & 0o777))
    return path


def _version(path):
    try:
        st = os.stat(path)
        return '%d:%d' % (st.st_mtime_ns, st.st_size)
    except OSError:
        return 'missing'


def code_version():
    """The version of the code a server runs (the network and core modules' files): a client of
    an upgraded relion_dem never talks to a server started by the old code."""
    here = os.path.dirname(os.path.abspath(__file__))
    core = os.path.dirname(here)
    files = sorted(os.path.join(d, f) for d in (here, core) for f in os.listdir(d) if f.endswith('.py'))
    return hashlib.sha1('|'.join(f + '=' + _version(f) for f in files).encode()).hexdigest()[:12]


def server_key(model, threads, python=None):
    """Servers are shared by calls with the same environment, model file (and version), threads
    and relion_dem code."""
    model = os.path.realpath(model)
    text = '|'.join([os.path.realpath(python or sys.executable), model, _version(model), str(int(threads or 0)),
                     code_version()])
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def paths(directory, key):
    base = os.path.join(directory, 'net-' + key)
    return dict(socket=base + '.sock', lock=base + '.lock', log=base + '.log')


# ----------------------------------------------------------------- wire format: JSON lines
def _send(conn, obj):
    conn.sendall((json.dumps(obj) + '\n').encode())


def _receive(stream):
    line = stream.readline()
    if not line:
        return None
    return json.loads(line)


# ----------------------------------------------------------------- server
class Server:
    """Load the model, then answer calls on ``socket_path`` until ``idle_s`` pass without one."""

    def __init__(self, socket_path, model, threads=0, idle_s=DEFAULT_IDLE_S):
        self.socket_path, self.model, self.threads, self.idle_s = socket_path, model, threads, idle_s
        self.lock = threading.Lock()          # one network evaluation at a time
        self.state = threading.Lock()
        self.active = 0
        self.calls = 0
        self.last = time.time()
        self.load_s = None

    def serve(self):
        from relion_dem.core.network import worker
        self.worker = worker
        t0 = time.time()
        predict = worker.load_predictor(self.model, self.threads)
        self.load_s = time.time() - t0

        def locked_predict(batch):
            with self.lock:
                return predict(batch)
        self.predict = locked_predict
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        tmp = '%s.%d' % (self.socket_path, os.getpid())
        if os.path.lexists(tmp):
            os.unlink(tmp)
        listener.bind(tmp)
        listener.listen(16)
        os.rename(tmp, self.socket_path)      # clients connect only to a ready server
        inode = os.stat(self.socket_path).st_ino
        print('network server %d: %s loaded in %.1f s; listening on %s (idle exit after %.0f s)'
              % (os.getpid(), self.model, self.load_s, self.socket_path, self.idle_s), flush=True)
        listener.settimeout(1.0)
        try:
            while True:
                try:
                    conn, _ = listener.accept()
                except socket.timeout:
                    with self.state:
                        if self.active == 0 and time.time() - self.last > self.idle_s:
                            break
                    continue
                self._take(conn)
        finally:
            try:                               # remove the socket unless a newer server took the name
                if os.stat(self.socket_path).st_ino == inode:
                    os.unlink(self.socket_path)
            except OSError:
                pass
            listener.settimeout(0.2)           # calls that connected just before: answer them
            while True:
                try:
                    self._take(listener.accept()[0])
                except OSError:
                    break
            listener.close()
            while self.active:
                time.sleep(0.1)
            print('network server %d: idle %.0f s, exiting after %d calls' % (os.getpid(), self.idle_s, self.calls),
                  flush=True)

    def _take(self, conn):
        with self.state:
            self.active += 1
            self.last = time.time()
        threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn):
        try:
            with conn, conn.makefile('r') as stream:
                try:
                    _send(conn, dict(pid=os.getpid(), model=self.model))
                    request = _receive(stream)
                except OSError:
                    request = None
                if request is None:      # a readiness probe, or a client that went away: no call
                    return
                status, message = self._call(request.get('argv') or [])
                with self.state:
                    self.calls += 1
                    calls = self.calls
                print('network server %d: call %d: %s' % (os.getpid(), calls, message), flush=True)
                _send(conn, dict(status=status, message=message, pid=os.getpid(), calls=calls,
                                 load_s=round(self.load_s, 2)))
        except (OSError, ValueError) as e:
            print('network server %d: call dropped (%s)' % (os.getpid(), e), flush=True)
        finally:
            with self.state:
                self.active -= 1
                self.last = time.time()

    def _call(self, argv):
        parser = self.worker.build_parser()
        try:
            a = parser.parse_args(argv)
        except SystemExit:
            return 2, 'bad worker arguments %r' % (argv,)
        if os.path.realpath(a.model) != os.path.realpath(self.model):
            return 2, 'this server holds %s, not %s' % (self.model, a.model)
        try:
            return 0, self.worker.denoise(a, self.predict)
        except self.worker.WorkerError as e:
            return 2, str(e)
        except Exception as e:  # noqa: BLE001 - any failure is this call's, the server goes on
            return 1, '%s: %s' % (type(e).__name__, e)


# ----------------------------------------------------------------- client
def _connect(socket_path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(socket_path)
    except OSError:
        s.close()
        raise
    return s


def _log_tail(log, lines=5):
    try:
        with open(log, errors='replace') as f:
            return ' | '.join(f.read().strip().splitlines()[-lines:])
    except OSError:
        return '(no log)'


def start_server(p, model, threads, idle_s, timeout=START_TIMEOUT_S):
    """Start a server (caller holds the lock) and wait until it accepts calls."""
    with open(p['log'], 'a') as log:
        proc = subprocess.Popen(
            [sys.executable, '-E', '-s', os.path.abspath(__file__), '--serve', p['socket'], '--model', model,
             '--threads', str(int(threads or 0)), '--idle', repr(float(idle_s))],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, close_fds=True,
            start_new_session=True)      # not in the caller's process group: a killed call leaves it be
    start = time.time()
    while True:
        try:
            _connect(p['socket']).close()
            return proc.pid
        except OSError:
            pass
        if proc.poll() is not None:
            raise ServerUnavailable('network server exited with status %s while starting; log %s: %s'
                                    % (proc.returncode, p['log'], _log_tail(p['log'])))
        if time.time() - start > timeout:
            proc.kill()
            raise ServerUnavailable('network server did not start within %.0f s; log %s' % (timeout, p['log']))
        time.sleep(0.1)


PATH_OPTIONS = ('--input', '--output', '--model')


def absolute_paths(worker_args):
    """The worker arguments with file paths made absolute: the server runs in another folder."""
    out = list(worker_args)
    for i, arg in enumerate(out[:-1]):
        if arg in PATH_OPTIONS:
            out[i + 1] = os.path.abspath(out[i + 1])
    for i, arg in enumerate(out):
        name, eq, value = arg.partition('=')
        if eq and name in PATH_OPTIONS:
            out[i] = name + '=' + os.path.abspath(value)
    return out


class Client:
    """One call: find (or start) the server, hand it the worker arguments, return its answer."""

    def __init__(self, worker_args, idle_s=DEFAULT_IDLE_S, directory=None):
        self.worker_args = absolute_paths(worker_args)
        known = argparse.ArgumentParser(add_help=False)
        known.add_argument('--model')
        known.add_argument('--threads', type=int, default=0)
        a, _ = known.parse_known_args(self.worker_args)
        from relion_dem.core.network import SHIPPED_MODEL   # not the worker: no numpy in the client
        self.model = os.path.abspath(a.model or SHIPPED_MODEL)
        if not a.model:
            self.worker_args += ['--model', self.model]
        self.threads, self.idle_s = a.threads, idle_s
        self.paths = paths(server_dir(directory), server_key(self.model, self.threads))
        self.server_pid = None

    def call(self):
        for attempt in (1, 2):
            try:
                conn = _connect(self.paths['socket'])
            except OSError:
                conn = self._start_and_connect()
            with conn, conn.makefile('r') as stream:
                conn.settimeout(HELLO_TIMEOUT_S)   # a live server greets at once
                try:
                    hello = _receive(stream)
                except (OSError, ValueError):
                    hello = None
                conn.settimeout(None)              # the call itself: the runtime's timeout applies
                if not isinstance(hello, dict) or 'pid' not in hello:
                    continue          # a server on its way out: nothing sent yet, start another
                self.server_pid = hello['pid']
                try:
                    _send(conn, dict(argv=self.worker_args))
                    answer = _receive(stream)
                except (OSError, ValueError) as e:
                    answer, why = None, e
                else:
                    why = 'connection closed'
            break
        else:
            raise ServerUnavailable('no network server answered at %s' % self.paths['socket'])
        if not isinstance(answer, dict) or 'status' not in answer:
            raise ServerFailed('network server %s gave no answer (%s); log %s: %s'
                               % (self.server_pid, why, self.paths['log'], _log_tail(self.paths['log'])))
        return answer

    def _start_and_connect(self):
        with open(self.paths['lock'], 'a') as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)       # one starter; the others wait, then connect
            try:
                return _connect(self.paths['socket'])
            except OSError:
                pass
            start_server(self.paths, self.model, self.threads, self.idle_s)
            try:
                return _connect(self.paths['socket'])
            except OSError as e:
                raise ServerUnavailable('network server started but refuses calls (%s)' % e)

    def kill_server(self):
        if self.server_pid:
            try:
                os.kill(self.server_pid, signal.SIGKILL)
            except OSError:
                pass


def server_pids(directory):
    """PIDs of the server processes for sockets in ``directory`` (from /proc), those still
    loading TensorFlow, whose socket does not exist yet, included."""
    pids = []
    prefix = os.path.join(os.path.realpath(directory), '')
    for pid in os.listdir('/proc') if os.path.isdir('/proc') else []:
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                cmd = f.read().decode(errors='replace').split('\0')
        except OSError:
            continue
        if '--serve' in cmd[:-1] and os.path.realpath(cmd[cmd.index('--serve') + 1]).startswith(prefix):
            pids.append(int(pid))
    return pids


def stop_servers(directory=None):
    """Kill every server whose socket is in ``directory`` (tests, benchmarks), those still
    starting included (a client killed while its server loaded leaves one on its way up);
    returns their pids."""
    directory = server_dir(directory)
    pids = []
    for name in sorted(os.listdir(directory)):
        if not name.endswith('.sock'):
            continue
        try:
            with _connect(os.path.join(directory, name)) as s, s.makefile('r') as stream:
                pid = _receive(stream)['pid']
            os.kill(pid, signal.SIGKILL)
            pids.append(pid)
        except (OSError, ValueError, TypeError, KeyError):
            pass
        try:
            os.unlink(os.path.join(directory, name))
        except OSError:
            pass
    for pid in server_pids(directory):
        try:
            os.kill(pid, signal.SIGKILL)
            pids.append(pid)
        except OSError:
            pass
    return sorted(set(pids))


# ----------------------------------------------------------------- command line
def build_parser():
    p = argparse.ArgumentParser(prog='relion_dem network service', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--idle', type=float, default=DEFAULT_IDLE_S, help='seconds a server waits for calls')
    p.add_argument('--dir', help='socket directory (default $RELION_DEM_SERVER_DIR or <tmp>/relion_dem-<uid>)')
    p.add_argument('--serve', metavar='SOCKET', help=argparse.SUPPRESS)
    p.add_argument('--model', help=argparse.SUPPRESS)
    p.add_argument('--threads', type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument('worker_args', nargs=argparse.REMAINDER, help='-- then the worker arguments')
    return p


def main(argv=None):
    a = build_parser().parse_args(argv)
    if a.serve:
        from relion_dem.core.network import worker
        worker.oom_first()                   # the node's memory: this server goes first, not RELION
        Server(a.serve, a.model, a.threads, a.idle).serve()
        return 0
    args = a.worker_args[1:] if a.worker_args[:1] == ['--'] else a.worker_args
    if not args:
        sys.stderr.write('network service: no worker arguments (give them after --)\n')
        return 2
    try:
        client = Client(args, a.idle, a.dir)
    except ServerUnavailable as e:
        return _once(args, e)

    def terminated(signum, frame):   # the runtime timed this call out: the server is stuck
        client.kill_server()
        sys.stderr.write('network service: call stopped by signal %d; server %s killed\n'
                         % (signum, client.server_pid))
        os._exit(128 + signum)
    signal.signal(signal.SIGTERM, terminated)
    try:
        answer = client.call()
    except ServerUnavailable as e:
        return _once(args, e)
    except ServerFailed as e:
        sys.stderr.write('network service: %s\n' % e)
        return 1
    stream = sys.stdout if answer['status'] == 0 else sys.stderr
    stream.write('network worker (server %s, call %s): %s\n' % (answer['pid'], answer['calls'], answer['message']))
    return answer['status']


def _once(args, why):
    """No server: denoise in this process, as the one-shot worker would."""
    sys.stderr.write('network service: %s; running the worker once in this process\n' % why)
    from relion_dem.core.network import worker
    return worker.main(args)


if __name__ == '__main__':
    sys.exit(main())
