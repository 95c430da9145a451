"""WeChat-Work-style group robots: a post to the residents' group of a building or complex.

``POST <webhook URL>`` with ``{"msgtype": "text", "text": {"content", "mentioned_mobile_list"}}``;
the answer's ``errcode`` 0 means the group has it (delivered), 45009 is the robot's rate limit
(try again later), 93000 an invalid key (never). A batch becomes one post per robot and text,
@mentioning the phones of that batch's recipients (at most 100 a post); different robots post
in parallel. The protocol has no idempotency key; the header ``X-Shequ-Delivery`` lists the
delivery ids a post carries so the receiving side can tell a repeated post.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import httpx

from notify.channels.base import Outcome, Outgoing
from notify.ratelimit import TokenBuckets

MENTIONS_PER_POST = 100
# Robots of one batch posting at the same time (each its own group and rate limit).
PARALLEL_ROBOTS = 8
DELIVERY_HEADER = "X-Shequ-Delivery"
# WeCom's answers: rate limited, system busy → later; anything else refuses this post for good.
RETRYABLE_ERRCODES = frozenset({45009, -1})
ERRCODE_REASONS = {
    45009: "群机器人发送过于频繁 robot rate limited",
    93000: "群机器人地址无效 invalid robot webhook key",
    -1: "企业微信系统繁忙 WeCom system busy",
}


def wecom_address(robot_id: uuid.UUID | str, phone: str) -> str:
    """The clear address of a wecom delivery: the group's robot and the phone to @mention."""
    return f"{robot_id}:{phone}"


def parse_wecom_address(address: str) -> tuple[str, str]:
    """``(robot id, phone)``; ValueError when the address is not ``<robot id>:<phone>``."""
    robot_id, colon, phone = address.partition(":")
    if not colon or not phone:
        raise ValueError(f"not a robot address <robot id>:<phone>: {address!r}")
    uuid.UUID(robot_id)
    return robot_id, phone


class WecomChannel:
    name = "wecom"

    def __init__(
        self,
        *,
        client: httpx.Client,
        limiter: TokenBuckets,
        batch_size: int = 200,
        parallel_robots: int = PARALLEL_ROBOTS,
    ) -> None:
        self.client = client
        self.limiter = limiter  # per robot: WeCom allows 20 posts a minute each
        self.batch_size = batch_size
        self.parallel_robots = max(1, parallel_robots)

    def send(self, messages: Sequence[Outgoing]) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(messages)
        # Per robot, its posts in order: (webhook URL, text, [(message index, phone)]).
        robots: dict[str, dict[tuple[str, str], list[tuple[int, str]]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for index, message in enumerate(messages):
            try:
                robot_id, phone = parse_wecom_address(message.address)
            except ValueError as error:
                outcomes[index] = Outcome.permanent(f"群机器人地址无效 bad robot address: {error}")
                continue
            if not message.route:
                outcomes[index] = Outcome.permanent("群机器人已删除 the robot was removed")
                continue
            robots[robot_id][(message.route, message.body)].append((index, phone))
        work = [(robot_id, posts) for robot_id, posts in robots.items()]
        if len(work) > 1 and self.parallel_robots > 1:
            # Groups are independent (each robot has its own rate limit), so a batch's robots
            # post at the same time: the time of a batch is its slowest group's, not the sum.
            with ThreadPoolExecutor(min(self.parallel_robots, len(work))) as pool:
                answered = list(pool.map(lambda item: self._post_robot(messages, *item), work))
        else:
            answered = [self._post_robot(messages, *item) for item in work]
        for results in answered:
            for index, outcome in results:
                outcomes[index] = outcome
        return [o if o is not None else Outcome.retry("未发送 not sent") for o in outcomes]

    def _post_robot(
        self,
        messages: Sequence[Outgoing],
        robot_id: str,
        posts: Mapping[tuple[str, str], list[tuple[int, str]]],
    ) -> list[tuple[int, Outcome]]:
        """One robot's posts, one after the other within its rate limit."""
        results: list[tuple[int, Outcome]] = []
        for (url, body), members in posts.items():
            for start in range(0, len(members), MENTIONS_PER_POST):
                group = members[start : start + MENTIONS_PER_POST]
                ids = [str(messages[index].delivery_id) for index, _ in group]
                self.limiter.acquire(robot_id)
                outcome = self._post(url, body, [phone for _, phone in group], ids)
                results += [(index, outcome) for index, _ in group]
        return results

    def _post(self, url: str, body: str, phones: list[str], ids: list[str]) -> Outcome:
        payload = {"msgtype": "text", "text": {"content": body, "mentioned_mobile_list": phones}}
        try:
            response = self.client.post(url, json=payload, headers={DELIVERY_HEADER: ",".join(ids)})
        except httpx.HTTPError as error:
            return Outcome.retry(f"群机器人连接失败 robot unreachable: {error}")
        if response.status_code >= 500 or response.status_code == 429:
            return Outcome.retry(f"群机器人服务暂不可用 robot answered HTTP {response.status_code}")
        if response.status_code >= 400:
            return Outcome.permanent(f"群机器人拒绝 robot refused: HTTP {response.status_code}")
        try:
            answer = response.json()
            errcode = int(answer.get("errcode", -1))
            errmsg = str(answer.get("errmsg", ""))
        except (ValueError, AttributeError, TypeError):
            return Outcome.retry("群机器人应答无法解析 unreadable robot answer")
        if errcode == 0:
            return Outcome.delivered()
        what = ERRCODE_REASONS.get(errcode, "群机器人发送失败 robot refused")
        reason = f"{what} ({errcode} {errmsg})"
        return Outcome.retry(reason) if errcode in RETRYABLE_ERRCODES else Outcome.permanent(reason)
