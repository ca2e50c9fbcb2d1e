"""Parameters shared by the step phrasings, with their Korean words (after the lab's own)."""

from __future__ import annotations

from vmconform.status import MIGRATING, PAUSED, RUNNING, STARTING, STOPPED, STOPPING
from vmconform.vocabulary import Param

# the lab's Korean for each action (가상머신 제어: 중지(Stop), 시작(Start), 다시 시작(Restart), …)
VERB_WORDS = {"stop": "중지", "start": "시작", "restart": "다시 시작", "pause": "일시 중지",
              "unpause": "일시 중지 해제"}
VERB = Param("verb", "a VM action, named as virtctl names it", choices=VERB_WORDS)
REQUEST = Param("verb", "the request whose answer is checked",
                choices={**VERB_WORDS, "migrate request": "마이그레이션"})
# statuses stay as KubeVirt prints them, in both languages (the lab writes `Stopped`, `Running`)
STATUS = Param("status", "a VM printableStatus",
               choices={s: s for s in (RUNNING, STOPPED, PAUSED, MIGRATING, STARTING, STOPPING)})
CODE = Param("code", "the HTTP status code KubeVirt answers with", pattern=r"\d{3}", convert=int, example="409")
MESSAGE = Param("text", "a part of KubeVirt's error message", pattern=r'[^"]+', example="VM is already running")
# a second answer KubeVirt may give in the same state (e.g. pause of a stopped VM: 404 once its VMI is gone,
# 409 "VM is not running" while the final VMI still exists — kubevirt-semantics.md §10 W4)
CODE2 = Param("code2", "the HTTP status code of the other answer KubeVirt may give", pattern=r"\d{3}", convert=int,
              example="409")
MESSAGE2 = Param("text2", "a part of the other answer's error message", pattern=r'[^"]+', example="VM is not running")
AMOUNT = Param("amount", "a whole number", pattern=r"\d+", convert=int, example="2")
UNIT = Param("unit", "a unit of time", choices={"seconds": "초", "minutes": "분", "second": "초", "minute": "분"},
             example="minutes")
