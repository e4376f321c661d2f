"""On PostgreSQL, two `billdesk worker` processes share the mail queue: 200 queued mails
reach the SMTP server each exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from billdesk.db import DB
from billdesk.mail.outgoing import queue_mail
from billdesk.tables import Job, OutgoingMail
from tests.factories import make_user

ROOT = Path(__file__).resolve().parents[2]
BILLDESK = str(Path(sys.executable).with_name("billdesk"))


def start_worker(log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [BILLDESK, "worker"],
        env=os.environ.copy(),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("BILLDESK_TEST_DATABASE_URL"),
    reason="needs PostgreSQL: set BILLDESK_TEST_DATABASE_URL (CI does)",
)
async def test_two_workers_send_each_of_200_mails_exactly_once(tmp_path, mailbox):
    customer = await make_user(email="alice@alice.test")
    async with DB.transaction():
        for n in range(200):
            await queue_mail(
                kind="mail_refused",
                to_address=customer.email,
                user_id=customer.id,
                their_subject=f"Mail {n}",
                params={"reason": f"test {n}", "their_subject": f"Mail {n}"},
            )
    logs = [tmp_path / f"worker-{n}.stderr" for n in (1, 2)]
    workers = [start_worker(log) for log in logs]
    started = time.monotonic()
    try:
        while await OutgoingMail.count().where(OutgoingMail.status == "sent") < 200:
            for process, log in zip(workers, logs, strict=True):
                assert process.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() - started < 90, "200 mails were not sent in time"
            await asyncio.sleep(0.2)
        elapsed = time.monotonic() - started
    finally:
        for process in workers:
            process.send_signal(signal.SIGTERM)
        codes = [process.wait(timeout=30) for process in workers]
    assert codes == [0, 0]

    received = Counter(str(message["Message-ID"]) for message in mailbox.messages())
    logged = await OutgoingMail.select(OutgoingMail.message_id, OutgoingMail.tries)
    assert {f"<{row['message_id']}>" for row in logged} == set(received)
    assert set(received.values()) == {1}, "a mail was sent twice"
    assert len(received) == 200 and {row["tries"] for row in logged} == {1}
    senders = await Job.select(Job.worker).where(Job.kind == "mail.send").output(as_list=True)
    pids = Counter(worker.split(":")[1] for worker in senders)
    assert set(pids) == {str(process.pid) for process in workers}, pids  # both took a share
    print(f"\n200 mails sent by two workers in {elapsed:.2f} s, split {dict(pids)}")
