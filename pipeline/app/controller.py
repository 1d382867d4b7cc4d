"""The controller process: handshake with every node, run jobs, collect results, watch
heartbeats, answer ``byob status / submit / stop``.

It binds the control (ROUTER), results (PULL) and api (ROUTER, for REQ clients) links.
Nodes say ``hello`` when they start; a job is sent only when every node has, so nothing
races at start-up. A node silent for more than ``LOST_AFTER_S`` is reported as lost; a
running job then fails instead of hanging. Each finished job is one JSON line on stdout
and, if ``BYOB_RESULT_FILE`` is set, in that file. With ``--exit-when-done`` the
controller exits after the queue empties (0) or a failure (1); otherwise it stays up for
further jobs until ``byob stop`` or Ctrl-C.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import time
import uuid
from collections import Counter
from typing import Any

import zmq

from pipeline.runtime.job import PipelineJob
from pipeline.runtime import security
from pipeline.runtime.bus import BusHub
from pipeline.base.messages import (Control, Heartbeat, Message, MessageError, Metrics, Prediction, RunInfo,
                               WeightUpdate, decode)
from pipeline.app.tally import Tally
from pipeline.runtime.node import HB_SUFFIX, setup_logging
from pipeline.runtime.provenance import provenance
from pipeline.runtime.rejects import RejectLog
from pipeline.runtime.wiring import LINKS, open_socket
from store.models import load_model

# Nodes a job needs; the recorder too unless recording is off (BYOB_RECORD=0).
ROLES = ("encoder", "network", "learner") + (("recorder",) if os.environ.get("BYOB_RECORD", "1") != "0" else ())
METRICS_EVERY_S = 0.5
RECORDER_FLUSH_TIMEOUT_S = 30.0
LOST_AFTER_S = 2.0
SUPERVISED = os.environ.get("BYOB_SUPERVISED") == "1"  # a supervisor restarts lost nodes
MAX_RECOVERIES = int(os.environ.get("BYOB_RESTARTS", "3"))
RECOVER_TIMEOUT_S = 180.0  # a restarted node warms up (compiles) before it says hello
START_TIMEOUT_S = 120.0
VALIDATE_EVERY_S = 5.0  # the learner's latest checkpoint to the validators at most this often


# What a node's "done" may say, by key: the types each value may have. Anything else in a
# known key (a string where a number belongs) would break the job's result later.
_NUMBER = (int, float)
DONE_ARGS: dict[str, tuple[type, ...]] = {
    "error": (str,), "model": (str,), "train_seconds": _NUMBER, "samples_per_second": _NUMBER,
    "test_accuracy": _NUMBER, "tested": (int,), "eval_started": _NUMBER, "weight_version": (int,),
    "staleness": (dict,), "published": (int,), "sent": (int,), "learned": (int,)}


def bad_done_args(args: dict[str, Any]) -> str | None:
    """Why a done message's arguments cannot be used, or None."""
    for k, types in DONE_ARGS.items():
        v = args.get(k)
        if v is not None and (isinstance(v, bool) or not isinstance(v, types)):
            return f"{k} is {type(v).__name__} {str(v)[:40]!r}, expected {' or '.join(t.__name__ for t in types)}"
    return None


def new_run_id() -> str:
    return time.strftime("run_%Y%m%d_%H%M%S_") + uuid.uuid4().hex[:6]


class Controller:
    def __init__(self, jobs: list[PipelineJob], exit_when_done: bool) -> None:
        self.queue, self.exit_when_done = list(jobs), exit_when_done
        self.log = setup_logging(os.environ.get("HONCHO_PROCESS_NAME", "controller"))
        self.ctx = zmq.Context()
        self.control = open_socket(self.ctx, "control", "controller")
        self.results = open_socket(self.ctx, "results", "controller")
        self.api = open_socket(self.ctx, "api", "controller")
        self.hub = BusHub(self.ctx, self.log).start()
        self.bus = open_socket(self.ctx, "publish", "controller")
        self.bus_seq = 0
        self.last_metrics = 0.0
        self.poller = zmq.Poller()
        for s in (self.control, self.results, self.api):
            self.poller.register(s, zmq.POLLIN)
        self.nodes: dict[str, dict[str, Any]] = {}  # identity -> role, last seen, status
        self.dropped: Counter[str] = Counter()
        self.rejects = RejectLog(self.log)  # bad input: a few lines, then a summary every 10 s
        self.job: PipelineJob | None = None
        self.history: list[dict[str, Any]] = []
        self.started = time.monotonic()
        self.monitored: bool | None = None  # what the nodes were last told (see watched)
        self.stopping = False
        self.seq = 0
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "stopping", True))

    # -- sockets -------------------------------------------------------------------------
    def send(self, identity: str, command: str, **args: Any) -> None:
        self.seq += 1
        msg = Control(run=self.job.wire_run if self.job else "", seq=self.seq, sender="controller",
                      command=command, args=args)
        try:
            self.control.send_multipart([identity.encode(), *msg.to_wire()], flags=zmq.NOBLOCK)
        except zmq.ZMQError as e:  # ROUTER_MANDATORY: that node is gone
            self.log.warning("could not send %s to %s: %s", command, identity, e)

    def publish(self, msg: Message) -> None:
        self.bus_seq += 1
        self.bus.send_multipart(dataclasses.replace(msg, seq=self.bus_seq).to_wire())

    def publish_metrics(self) -> None:
        """Running figures and pipeline health for viewers, twice a second during a job."""
        now = time.monotonic()
        if self.job is None or now - self.last_metrics < METRICS_EVERY_S:
            return
        self.last_metrics = now
        st = self.status()
        values = {"trained": self.tally.train_preds, "tested": self.tally.n_tested,
                  "running_accuracy": self.tally.running_accuracy,
                  "samples_per_second": st["job"]["samples_per_second"],
                  "nodes_alive": sum(n["alive"] for n in st["nodes"].values()),
                  "nodes": len(st["nodes"]), "bus_forwarded": self.hub.forwarded,
                  "dropped": sum(self.dropped.values()) + sum(
                      sum(n.get("dropped", {}).values()) for n in st["nodes"].values())}
        self.publish(Metrics(run=self.job.wire_run, seq=0, sender="controller",
                             values={k: float(v) for k, v in values.items()}))

    def watched(self) -> bool:
        """Whether anyone takes the nodes' monitoring messages: a subscriber on the bus (a
        viewer, ``byob`` tools) or an attached recorder."""
        return self.hub.subscribers > 0 or self.hub.recording.is_set()

    def tell_monitoring(self, idents: list[str], force: bool = False) -> None:
        """Tell the nodes whether to publish, when that changed (or ``force``): unwatched,
        they skip making the per-sample monitoring messages; a viewer attaching turns
        them back on within a poll (about 100 ms)."""
        on = self.watched()
        if on == self.monitored and not force:
            return
        self.monitored = on
        for ident in idents:
            self.send(ident, "monitor", on=on)

    def poll_once(self, timeout_ms: int = 100) -> None:
        events = dict(self.poller.poll(timeout_ms))
        n = 0
        # Drain the control link (heartbeats) before anyone is judged lost: after a stall
        # of this process, a backlog of heartbeats must not read as silence.
        while self.control in events and n < 1000 and (n == 0 or self.control.poll(0)):
            ident, *frames = self.control.recv_multipart()
            self.on_control(ident.decode(errors="replace"), frames)
            n += 1
        if self.results in events:
            try:
                msg = decode(self.results.recv_multipart())
            except MessageError as e:
                self.dropped[e.reason] += 1
                self.rejects.reject("results", e.reason, f"dropped a bad result: {e}")
                return
            if isinstance(msg, Prediction):
                self.on_prediction(msg)
        if self.api in events:
            ident, empty, *frames = self.api.recv_multipart()
            reply = self.on_api(frames)
            self.api.send_multipart([ident, empty, *reply.to_wire()])

    def on_control(self, ident: str, frames: list[bytes]) -> None:
        try:
            msg = decode(frames)
        except MessageError as e:
            self.dropped[e.reason] += 1
            self.rejects.reject(ident, e.reason, f"dropped a bad control message: {e}")
            return
        ident = ident.removesuffix(HB_SUFFIX)  # a node's heartbeat thread
        node = self.nodes.setdefault(ident, {"role": None, "status": {}})
        node["seen"] = time.monotonic()
        if node.get("lost"):
            node["lost"] = False
            self.log.info("%s is back", ident)
        if isinstance(msg, Heartbeat):
            progress = {k: v for k, v in msg.status.items() if k != "dropped"} if isinstance(msg.status, dict) else {}
            if progress != node.get("progress"):
                node["progress"] = progress
                self.progressed = time.monotonic()
            node["status"] = msg.status if isinstance(msg.status, dict) else {}
        elif isinstance(msg, Control) and msg.command == "hello":
            if self.job and ident in self.participants:  # restarted: it knows nothing of the job
                self.restarted.add(ident)
            node["role"] = msg.args.get("role")
            if node["role"] == "recorder":
                self.hub.recording.set()
            if node["role"] == "validator" and self.job:  # up after the job started: it joins in
                self.send(ident, "train", **self.job.to_dict())
            self.log.info("%s is up (pid %s)", ident, msg.args.get("pid"))
        elif isinstance(msg, Control) and msg.command == "validated" and self.job and msg.run == self.job.wire_run:
            self.on_validated(msg.args)
        elif isinstance(msg, Control) and msg.command == "done" and self.job and msg.run == self.job.wire_run:
            bad = bad_done_args(msg.args)
            if bad:  # schema-valid but wrong: counted and dropped, never a crash later
                self.dropped["bad-done"] += 1
                self.rejects.reject(ident, "bad-done", f"dropped a done message: {bad}")
                return
            self.done[ident] = msg.args
            self.progressed = time.monotonic()
            self.log.info("%s finished job %s", ident, msg.run)
        elif isinstance(msg, WeightUpdate) and self.job and msg.run == self.job.wire_run:
            if node.get("role") == "learner":  # a checkpoint: what a recovery resumes from
                self.checkpoints[msg.version] = msg
                self.to_validators(frames)
                return
            # The training worker's final weights, for the other workers to evaluate with.
            for other in self.workers:
                if other != ident:
                    self.control.send_multipart([other.encode(), *frames])

    # -- validation (nodes.validator: not a participant; training is the same without it) --
    def validators(self) -> list[str]:
        now = time.monotonic()
        return [i for i, n in sorted(self.nodes.items()) if n.get("role") == "validator" and not self.is_lost(i, now)]

    def to_validators(self, frames: list[bytes]) -> None:
        """The learner's checkpoint to the validators, at most every VALIDATE_EVERY_S."""
        now = time.monotonic()
        if now - self.validation_sent < VALIDATE_EVERY_S:
            return
        self.validation_sent = now
        for ident in self.validators():
            try:
                self.control.send_multipart([ident.encode(), *frames], flags=zmq.NOBLOCK)
            except zmq.ZMQError:
                pass  # a validator gone or behind: the next checkpoint will do

    def on_validated(self, args: dict[str, Any]) -> None:
        """A validator's accuracy with a checkpoint: on the bus for viewers and the recorder."""
        try:
            values = {"validation_accuracy": float(args["accuracy"]),
                      "validation_samples_seen": float(args["samples_seen"]),
                      "validation_digits": float(args["digits"]), "validation_held_out": float(bool(args["held_out"]))}
        except (KeyError, TypeError, ValueError) as e:
            self.dropped["bad-validation"] += 1
            self.rejects.reject("validator", "bad-validation", f"dropped a validation result: {e}")
            return
        self.validation = {k.removeprefix("validation_"): v for k, v in values.items()}
        self.publish(Metrics(run=self.job.wire_run, seq=0, sender="controller", values=values))

    def on_prediction(self, msg: Prediction) -> None:
        if not self.job or msg.run != self.job.wire_run:
            self.dropped["other-run"] += 1
            return
        try:
            complete = self.tally.add(msg)
        except ValueError as e:
            self.dropped["bad-prediction"] += 1
            self.log.warning("dropped a prediction from %s: %s", msg.sender, e)
            return
        if complete:
            self.all_tested()

    def all_tested(self) -> None:
        """Every test sample is in, from however many workers: the predictions in sample
        order (ties broken by the model's seed, as in-process), the accuracy to the workers."""
        self.accuracy = self.tally.accuracy()
        self.tested_at = time.time()
        for ident in self.workers:
            self.send(ident, "evaluated", test_accuracy=self.accuracy)

    def on_api(self, frames: list[bytes]) -> Control:
        def reply(**args: Any) -> Control:
            return Control(run="", seq=0, sender="controller", command="ack", args=args)

        try:
            msg = decode(frames)
        except MessageError as e:
            self.dropped[e.reason] += 1
            self.rejects.reject("api", e.reason, f"refused a bad request: {e}")
            return reply(ok=False, error=str(e))
        if not isinstance(msg, Control):
            return reply(ok=False, error=f"expected a control message, got {msg.KIND}")
        if msg.command == "status":
            return reply(ok=True, **self.status())
        if msg.command in ("train", "evaluate"):
            try:
                job = PipelineJob.from_dict({**msg.args, "kind": msg.command, "run": new_run_id()})
                if job.model:  # a missing, corrupt or foreign model is refused now, not at its turn
                    load_model(job.model)
            except (TypeError, ValueError, OSError) as e:  # ModelFileError is a ValueError
                return reply(ok=False, error=f"bad job: {e}")
            self.queue.append(job)
            self.log.info("queued %s job %s from a client", job.kind, job.run)
            return reply(ok=True, run=job.run, position=len(self.queue))
        if msg.command == "stop":
            self.stopping = True
            return reply(ok=True, stopping=True)
        return reply(ok=False, error=f"unsupported command {msg.command!r}")

    # -- state ---------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        now = time.monotonic()
        nodes = {i: {"role": n.get("role"), "alive": not self.is_lost(i, now),
                     "last_seen_s": round(now - n.get("seen", now), 2), **n.get("status", {})}
                 for i, n in sorted(self.nodes.items())}
        running = None
        if self.job:
            elapsed = now - self.job_started
            running = {"run": self.job.run, "kind": self.job.kind, "mode": self.job.mode,
                       "seconds": round(elapsed, 1), "trained": self.tally.train_preds,
                       "samples_per_second": round(self.tally.train_preds / max(elapsed, 1e-9), 2)}
        return {"nodes": nodes, "job": running, "queued": [j.run for j in self.queue],
                "finished": self.history[-10:], "dropped": dict(self.dropped),
                "uptime_s": round(now - self.started, 1)}

    def is_lost(self, ident: str, now: float) -> bool:
        return now - self.nodes[ident].get("seen", now) > LOST_AFTER_S

    def lost(self) -> list[str]:
        now = time.monotonic()
        out = []
        for ident in self.nodes:
            if self.is_lost(ident, now):
                if not self.nodes[ident].get("lost"):
                    self.nodes[ident]["lost"] = True
                    if self.nodes[ident].get("role") == "recorder":
                        self.hub.recording.clear()  # the pipeline must not block on a dead recorder
                    self.log.error("node %s lost: no heartbeat for more than %.1f s", ident, LOST_AFTER_S)
                out.append(ident)
        return out

    def stalled(self) -> str | None:
        """No wait without a deadline: a job whose nodes all stood still for ``stall_s``
        (no status moved, none finished; a node compiling says so and is not standing
        still) fails, naming the nodes it waits for and where they stopped."""
        if time.monotonic() - self.progressed <= self.job.stall_s:
            return None
        waiting = [i for i in self.participants if i not in self.done]
        if any(self.nodes.get(i, {}).get("status", {}).get("phase") == "compiling" for i in waiting):
            return None
        where = "; ".join(f"{i} at {self.nodes.get(i, {}).get('progress') or 'its start'}" for i in waiting)
        return f"no progress for {self.job.stall_s:.0f} s, waiting for {where or 'nothing'}"

    def roles_up(self) -> dict[str, list[str]]:
        now = time.monotonic()
        up: dict[str, list[str]] = {}
        for i, n in sorted(self.nodes.items()):
            if n.get("role") in ROLES and not self.is_lost(i, now):
                up.setdefault(n["role"], []).append(i)
        return up

    def ready(self) -> bool:
        """Every role up, and as many network workers as ``BYOB_WORKERS`` says (default 1;
        set it with ``honcho start -c network=N`` so no worker misses the job)."""
        up = self.roles_up()
        return len(up) == len(ROLES) and len(up["network"]) >= int(os.environ.get("BYOB_WORKERS", "1"))

    def start_job(self) -> None:
        # Who takes part is fixed now, before anything slow (loading the model and data
        # below does not poll, so heartbeats wait and a node could look silent).
        up = self.roles_up()
        job = self.queue.pop(0)
        try:
            model, split = job.model_and_split()
        except (ValueError, OSError) as e:  # e.g. its model file went away since it was queued
            self.log.error("job %s cannot start: %s", job.run, e)
            self.history.append({"run": job.run, "kind": job.kind, "ok": False, "test_accuracy": None,
                                 "model": job.model, "error": str(e)})
            return
        self.job = job
        self.job_started = time.monotonic()
        self.done: dict[str, dict[str, Any]] = {}
        self.tally = Tally(split.y_test, model.config.network.n_output, model.seed)
        self.accuracy: float | None = None
        self.tested_at = 0.0
        self.workers = up["network"]
        self.participants = [i for ids in up.values() for i in ids]
        self.restarted: set[str] = set()
        self.checkpoints: dict[int, WeightUpdate] = {}  # learner version -> its plastic state
        self.recovering: dict[str, Any] | None = None
        self.recoveries = 0
        self.validation: dict[str, float] | None = None  # the latest validator result
        self.validation_sent = 0.0
        self.progressed = time.monotonic()  # any node's status changing, or one finishing
        self.log.info("all nodes up; starting %s job %s (%s, %d network worker%s)", self.job.kind, self.job.run,
                      self.job.mode, len(self.workers), "s" * (len(self.workers) > 1))
        self.publish(RunInfo(run=self.job.run, seq=0, sender="controller", event="start", kind=self.job.kind,
                             mode=self.job.mode, model=self.job.model or "", time=time.time(),
                             job=self.job.to_dict(), config=model.config.to_dict(),
                             summary={"provenance": provenance(model.config.network.backend)}))
        self.tell_monitoring(self.participants, force=True)
        for ident in self.participants + self.validators():
            self.send(ident, "train", **self.job.to_dict())

    # -- recovery ------------------------------------------------------------------------
    def can_recover(self) -> bool:
        """Under a supervisor that restarts nodes, a training job resumes instead of failing."""
        return (self.job is not None and self.job.kind == "train" and SUPERVISED
                and self.recoveries < MAX_RECOVERIES)

    def begin_recovery(self, reason: str) -> None:
        self.recoveries += 1
        self.recovering = {"since": time.monotonic(), "reason": reason}
        self.log.warning("job %s: %s; aborting it on the other nodes and waiting for a restart to resume "
                         "(recovery %d of %d)", self.job.run, reason, self.recoveries, MAX_RECOVERIES)
        for ident in self.participants:  # a lost one too: it may only be paused (SIGSTOP)
            self.send(ident, "abort", reason=reason)

    def recovered(self) -> bool:
        """All participants alive again (restarted or back): resume from the newest
        checkpoint the recorder has every sample before; True once resumed."""
        now = time.monotonic()
        if now - self.recovering["since"] < 1.0 or any(self.is_lost(i, now) or i not in self.nodes
                                                         for i in self.participants):
            return False
        limit = None
        for i in self.participants:
            if self.nodes[i].get("role") == "recorder":
                limit = self.nodes[i].get("status", {}).get("presentations", {}).get(self.job.run)
                if limit is None:  # a restarted recorder: have it reopen the run and count
                    if not self.recovering.get("asked"):
                        self.send(i, "train", **self.job.to_dict())
                        self.recovering["asked"] = True
                    return False
        v = max([0, *(k for k in self.checkpoints if limit is None or k <= limit)])
        job = dataclasses.replace(self.job, resume_from=v, incarnation=self.job.incarnation + 1)
        self.log.warning("job %s: resuming from sample %d (incarnation %d) after: %s", job.run, v,
                         job.incarnation, self.recovering["reason"])
        self.publish(RunInfo(run=job.wire_run, seq=0, sender="controller", event="resume", kind=job.kind,
                             mode=job.mode, model=job.model or "", time=time.time(), job=job.to_dict(),
                             summary={"from_sample": v, "incarnation": job.incarnation,
                                      "reason": self.recovering["reason"]}))
        self.job, self.recovering = job, None
        self.done, self.restarted = {}, set()
        self.tally.restart()  # the running accuracy restarts with the samples
        self.tell_monitoring(self.participants, force=True)  # a restarted node starts watched
        for ident in self.participants + self.validators():
            self.send(ident, "train", **job.to_dict())
        if v:
            for ident in self.participants:
                if ident == self.workers[0] or self.nodes[ident].get("role") == "learner":
                    ck = dataclasses.replace(self.checkpoints[v], run=job.wire_run, sender="controller")
                    self.control.send_multipart([ident.encode(), *ck.to_wire()])
        self.checkpoints = {k: f for k, f in self.checkpoints.items() if k <= v}
        return True

    def finish_job(self, error: str | None) -> dict[str, Any]:
        assert self.job is not None
        if error:  # the others must not wait forever on a job that cannot finish
            for ident in self.participants:  # a lost one too: it may only be paused
                self.send(ident, "abort", reason=error)
        while error is None and self.results.poll(200):  # predictions may trail the done message
            self.poll_once(0)
        net = next((a for i, a in self.done.items() if i == self.workers[0]), {})
        starts = [a["eval_started"] for i, a in self.done.items() if i in self.workers and "eval_started" in a]
        n_test = len(self.tally.y_test)
        eval_rate = n_test / max(self.tested_at - min(starts), 1e-9) if starts and self.tested_at else None
        result = {
            "run": self.job.run, "kind": self.job.kind, "mode": self.job.mode, "ok": error is None,
            "error": error, "model": net.get("model"), "test_accuracy": self.accuracy,
            "samples_per_second": net.get("samples_per_second"), "train_seconds": net.get("train_seconds"),
            "eval_samples_per_second": eval_rate, "workers": len(self.workers),
            "job_seconds": round(time.monotonic() - self.job_started, 3),
            "test_predictions": self.tally.n_tested, "test_unique": self.tally.n_unique,
            "train_running_accuracy": self.tally.running_accuracy,
            "validation": self.validation,
            # Async: presentations each training sample's weights had not yet learned from.
            "staleness": net.get("staleness"),
            "dropped": {"controller": dict(self.dropped),
                        **{i: n["status"].get("dropped", {}) for i, n in self.nodes.items()}},
        }
        published = {i: a.get("published", 0) for i, a in self.done.items()}
        published["controller"] = self.bus_seq + 1  # with the end message itself
        self.publish(RunInfo(run=self.job.wire_run, seq=0, sender="controller", event="end", kind=self.job.kind,
                             mode=self.job.mode, model=result["model"] or "", time=time.time(),
                             job=self.job.to_dict(), summary={**{k: v for k, v in result.items() if k != "dropped"},
                                                              "published": published}))
        self.await_recorder(self.job.run)
        line = json.dumps(result, sort_keys=True)
        print(line, flush=True)
        path = os.environ.get("BYOB_RESULT_FILE")
        if path:
            with open(path, "w") as f:
                f.write(line + "\n")
        self.history.append({k: result[k] for k in ("run", "kind", "ok", "test_accuracy", "model")})
        self.job = None
        return result

    def await_recorder(self, run: str) -> None:
        """Wait until the recorder has committed the run's end, so a finished job is a
        finished record (and ``--exit-when-done`` never cuts the store short)."""
        recorders = [i for i, n in self.nodes.items() if n.get("role") == "recorder"]
        t0 = time.monotonic()
        while recorders and time.monotonic() - t0 < RECORDER_FLUSH_TIMEOUT_S:
            if any(i in self.done for i in recorders) or all(self.is_lost(i, time.monotonic()) for i in recorders):
                return
            self.poll_once(50)
        if recorders:
            self.log.error("the recorder did not confirm run %s within %.0f s", run, RECORDER_FLUSH_TIMEOUT_S)

    # -- main loop -----------------------------------------------------------------------
    def run(self) -> int:
        t0 = time.monotonic()
        self.log.info("listening: control %s, api %s, bus %s%s", LINKS["control"].endpoint(),
                      LINKS["api"].endpoint(), LINKS["bus"].endpoint(),
                      " (CURVE)" if self.control.curve_server else "")
        code = 0
        while not self.stopping:
            self.poll_once()
            self.rejects.flush()
            self.publish_metrics()
            if self.job is not None:
                self.tell_monitoring(self.participants)
            lost = self.lost()
            if self.job is None:
                if self.queue and self.ready():
                    self.start_job()
                elif self.queue and time.monotonic() - t0 > START_TIMEOUT_S and not self.nodes:
                    self.log.error("no node said hello within %.0f s; are they running and pointed at %s?",
                                   START_TIMEOUT_S, self.control.getsockopt(zmq.LAST_ENDPOINT))
                    return self.close(1)
                elif not self.queue and self.exit_when_done and self.history:
                    return self.close(code)
                continue
            if self.recovering is not None:
                if not self.recovered() and time.monotonic() - self.recovering["since"] > RECOVER_TIMEOUT_S:
                    self.finish_job(f"{self.recovering['reason']}; not back within {RECOVER_TIMEOUT_S:.0f} s")
                    code = 1
                    if self.exit_when_done:
                        return self.close(1)
                continue
            running_lost = [i for i in lost if self.nodes[i].get("role") in ROLES]
            failed = {i: a["error"] for i, a in self.done.items() if a.get("error")}
            restarted = {i: "restarted during the job" for i in self.restarted}
            if (running_lost or restarted) and not failed and self.can_recover():
                self.begin_recovery(f"node lost: {', '.join(running_lost or restarted)}")
                continue
            failed.update(restarted)
            stalled = self.stalled()
            if stalled and not failed:
                failed["controller"] = stalled
            if running_lost or failed:
                self.finish_job(f"node lost: {', '.join(running_lost)}" if running_lost else
                                "; ".join(f"{i}: {e}" for i, e in failed.items()))
                code = 1
                if self.exit_when_done:
                    return self.close(1)
            elif {"encoder", "learner"} <= {self.nodes.get(i, {}).get("role") for i in self.done} \
                    and all(w in self.done for w in self.workers):
                if not self.finish_job(None)["ok"]:
                    code = 1
        self.log.info("stopping: telling the nodes")
        for ident in [*(i for ids in self.roles_up().values() for i in ids), *self.validators()]:
            self.send(ident, "stop")
        return self.close(code)

    def close(self, code: int) -> int:
        self.hub.stop()
        security.stop_authenticator(self.ctx)
        self.ctx.destroy(linger=500)
        return code


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pipeline.app.controller",
                                description="Run jobs on the pipeline's nodes and collect them.")
    p.add_argument("--job", default=os.environ.get("BYOB_JOB", "{}"),
                   help="the first job as JSON; 'none' to start idle")
    p.add_argument("--exit-when-done", action="store_true",
                   default=os.environ.get("BYOB_EXIT_WHEN_DONE") == "1")
    a = p.parse_args(argv)
    jobs = []
    if a.job.strip().lower() != "none":
        d = json.loads(a.job)
        d.setdefault("run", new_run_id())
        jobs.append(PipelineJob.from_dict(d))
    try:
        return Controller(jobs, a.exit_when_done).run()
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
