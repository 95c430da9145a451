"""The channels' local sinks speak their protocols: SMTP, the robot webhook and the signed SMS
provider API. Requests here are built by hand from the protocols' documentation, not by
notify's adapters, so the sinks are checked on their own."""

import base64
import hashlib
import hmac
import json
import smtplib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from urllib.parse import quote

import httpx
import pytest

from shequ_infra.sinks import Sinks, provider_signature, running_sinks


@pytest.fixture(scope="module")
def sinks() -> Iterator[Sinks]:
    with running_sinks() as running:
        yield running


@pytest.fixture(autouse=True)
def fresh(sinks: Sinks) -> None:
    sinks.reset()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


def rfc3986(text: str) -> str:
    return quote(text, safe="~")


def signed(sinks: Sinks, action: str, secret: str | None = None, **fields: str) -> dict[str, str]:
    params = {
        "AccessKeyId": sinks.sms_access_key_id,
        "Action": action,
        "Format": "JSON",
        "RegionId": "cn-hangzhou",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": uuid.uuid4().hex,
        "SignatureVersion": "1.0",
        "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "Version": "2017-05-25",
        **fields,
    }
    canonical = "&".join(f"{rfc3986(k)}={rfc3986(v)}" for k, v in sorted(params.items()))
    to_sign = "POST&%2F&" + rfc3986(canonical)
    key = (secret if secret is not None else sinks.sms_access_key_secret) + "&"
    digest = hmac.new(key.encode(), to_sign.encode(), hashlib.sha1).digest()
    params["Signature"] = base64.b64encode(digest).decode()
    return params


def batch(
    sinks: Sinks, phones: list[str], out_ids: list[str], text: str = "通知"
) -> dict[str, str]:
    return signed(
        sinks,
        "SendBatchSms",
        PhoneNumberJson=json.dumps(phones),
        SignNameJson=json.dumps(["社区通知"] * len(phones), ensure_ascii=False),
        TemplateCode="SMS_SHEQU_NOTICE",
        TemplateParamJson=json.dumps([{"content": text}] * len(phones), ensure_ascii=False),
        OutIdJson=json.dumps(out_ids),
    )


def test_provider_signature_matches_the_documented_example() -> None:
    # The worked example of the provider's RPC signature documentation (key "testid", secret
    # "testsecret"), which signs a GET; the same request POSTed differs only in the verb.
    params = {
        "AccessKeyId": "testid",
        "Action": "DescribeRegions",
        "Format": "XML",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
        "SignatureVersion": "1.0",
        "Timestamp": "2016-02-23T12:46:24Z",
        "Version": "2014-05-26",
    }
    assert provider_signature(params, "testsecret", "GET") == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
    assert provider_signature(params, "testsecret") == "MxbnVAM4w6sft9xjVpe/GCKueuk="


def test_sms_batch_is_stored_per_phone(sinks: Sinks, http: httpx.Client) -> None:
    ids = [str(uuid.uuid4()), str(uuid.uuid4())]
    answer = http.post(
        sinks.sms_endpoint, data=batch(sinks, ["13800000001", "13800000002"], ids, "停水 通知~*")
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["Code"] == "OK"
    assert [r["Code"] for r in body["Results"]] == ["OK", "OK"]
    stored = sinks.records.sms_to("13800000001")
    assert [(m.out_id, m.content, m.sign_name) for m in stored] == [
        (ids[0], "停水 通知~*", "社区通知")
    ]
    assert sinks.records.sms_submissions == 1


def test_wrong_secret_is_refused_with_signature_does_not_match(
    sinks: Sinks, http: httpx.Client
) -> None:
    params = batch(sinks, ["13800000001"], [str(uuid.uuid4())])
    forged = signed(
        sinks,
        "SendBatchSms",
        secret="not-the-secret",
        **{k: params[k] for k in ("PhoneNumberJson", "SignNameJson", "TemplateCode", "OutIdJson")},
    )
    answer = http.post(sinks.sms_endpoint, data=forged)
    assert answer.status_code == 400
    assert answer.json()["Code"] == "SignatureDoesNotMatch"
    assert sinks.records.sms_by_phone() == {}


def test_tampered_parameter_breaks_the_signature(sinks: Sinks, http: httpx.Client) -> None:
    params = batch(sinks, ["13800000001"], [str(uuid.uuid4())])
    params["PhoneNumberJson"] = json.dumps(["13900000009"])
    answer = http.post(sinks.sms_endpoint, data=params)
    assert answer.json()["Code"] == "SignatureDoesNotMatch"
    assert sinks.records.signature_refusals == 1
    assert sinks.records.sms_to("13900000009") == []


def test_unknown_access_key_and_replayed_nonce_are_refused(
    sinks: Sinks, http: httpx.Client
) -> None:
    params = batch(sinks, ["13800000001"], [str(uuid.uuid4())])
    assert http.post(sinks.sms_endpoint, data=params).json()["Code"] == "OK"
    replay = http.post(sinks.sms_endpoint, data=params)
    assert replay.json()["Code"] == "SignatureNonceUsed"
    stranger = dict(params, AccessKeyId="someone-else")
    assert http.post(sinks.sms_endpoint, data=stranger).json()["Code"] == (
        "InvalidAccessKeyId.NotFound"
    )
    assert len(sinks.records.sms_to("13800000001")) == 1


def test_stale_timestamp_is_refused(sinks: Sinks, http: httpx.Client) -> None:
    old = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    params = signed(sinks, "QuerySendStatus", OutIdJson="[]", Timestamp=old)
    assert http.post(sinks.sms_endpoint, data=params).json()["Code"] == "InvalidTimeStamp.Expired"


def test_repeated_out_id_is_dropped_but_answered_ok(sinks: Sinks, http: httpx.Client) -> None:
    out_id = str(uuid.uuid4())
    for _ in range(3):
        answer = http.post(sinks.sms_endpoint, data=batch(sinks, ["13800000001"], [out_id]))
        assert answer.json()["Results"][0]["Code"] == "OK"
    assert len(sinks.records.sms_to("13800000001")) == 1
    assert sinks.records.sms_repeats_dropped == 2


def test_throttling_and_refused_phones_as_injected(sinks: Sinks, http: httpx.Client) -> None:
    sinks.faults.sms_throttle_next = 1
    sinks.faults.sms_refused_phones = {"13800000002"}
    ids = [str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())]
    phones = ["13800000001", "13800000002", "12345"]
    throttled = http.post(sinks.sms_endpoint, data=batch(sinks, phones, ids))
    assert throttled.json()["Code"] == "Throttling.User"
    assert sinks.records.sms_by_phone() == {}
    answer = http.post(sinks.sms_endpoint, data=batch(sinks, phones, ids)).json()
    assert [r["Code"] for r in answer["Results"]] == [
        "OK",
        "isv.MOBILE_NUMBER_ILLEGAL",
        "isv.MOBILE_NUMBER_ILLEGAL",
    ]
    assert list(sinks.records.sms_by_phone()) == ["13800000001"]


def test_query_send_status_reports_accepted_messages(sinks: Sinks, http: httpx.Client) -> None:
    sinks.faults.sms_undelivered_phones = {"13800000002"}
    ids = [str(uuid.uuid4()), str(uuid.uuid4())]
    http.post(sinks.sms_endpoint, data=batch(sinks, ["13800000001", "13800000002"], ids))
    never_sent = str(uuid.uuid4())
    answer = http.post(
        sinks.sms_endpoint,
        data=signed(sinks, "QuerySendStatus", OutIdJson=json.dumps([*ids, never_sent])),
    ).json()
    assert answer["Code"] == "OK"
    statuses = {s["OutId"]: s["Status"] for s in answer["Statuses"]}
    assert statuses == {ids[0]: "DELIVERED", ids[1]: "FAILED"}


def test_robot_posts_are_kept_per_key_with_mentions(sinks: Sinks, http: httpx.Client) -> None:
    payload = {
        "msgtype": "text",
        "text": {"content": "今晚停水", "mentioned_mobile_list": ["13800000001", "13800000002"]},
    }
    answer = http.post(
        sinks.webhook_url("shibei-1"), json=payload, headers={"X-Shequ-Delivery": "a,b"}
    )
    assert answer.json() == {"errcode": 0, "errmsg": "ok"}
    posts = sinks.records.robot_posts("shibei-1")
    assert [(p.content, p.mentions, p.delivery_ids) for p in posts] == [
        ("今晚停水", ("13800000001", "13800000002"), ("a", "b"))
    ]
    assert sinks.records.robot_posts("shibei-2") == []


def test_robot_errcodes_for_rate_limit_invalid_key_and_bad_message(
    sinks: Sinks, http: httpx.Client
) -> None:
    payload = {"msgtype": "text", "text": {"content": "x"}}
    sinks.faults.robot_throttle_next = 1
    assert http.post(sinks.webhook_url("k"), json=payload).json()["errcode"] == 45009
    assert http.post(sinks.webhook_url("k"), json=payload).json()["errcode"] == 0
    sinks.faults.robot_invalid_keys = {"gone"}
    assert http.post(sinks.webhook_url("gone"), json=payload).json()["errcode"] == 93000
    bad = {"msgtype": "image", "text": {"content": "x"}}
    assert http.post(sinks.webhook_url("k"), json=bad).json()["errcode"] == 40008
    assert len(sinks.records.robot_posts()) == 1


def mail(message_id: str, to: str) -> EmailMessage:
    message = EmailMessage()
    message["Message-ID"] = message_id
    message["From"] = "社区通知 <notify@shequ.local>"
    message["To"] = to
    message["Subject"] = "反诈提醒"
    message.set_content("请勿向陌生人转账。\n第二行")
    return message


def test_mailbox_keeps_one_copy_per_message_id_and_counts_receptions(sinks: Sinks) -> None:
    with smtplib.SMTP(sinks.smtp_host, sinks.smtp_port, timeout=5) as smtp:
        smtp.send_message(mail("<one@shequ.notify>", "a@example.org"))
        smtp.send_message(mail("<one@shequ.notify>", "a@example.org"))
        smtp.send_message(mail("<two@shequ.notify>", "b@example.org"))
    stored = sinks.records.emails()
    assert set(stored) == {"<one@shequ.notify>", "<two@shequ.notify>"}
    assert stored["<one@shequ.notify>"].subject == "反诈提醒"
    assert stored["<one@shequ.notify>"].body == "请勿向陌生人转账。\n第二行"
    assert sinks.records.email_raw_count == 3
    assert sinks.records.emails_to("b@example.org")[0].message_id == "<two@shequ.notify>"


def test_refused_and_deferred_mailboxes(sinks: Sinks) -> None:
    sinks.faults.smtp_refused = {"gone@example.org"}
    sinks.faults.smtp_tempfail_next = 1
    with smtplib.SMTP(sinks.smtp_host, sinks.smtp_port, timeout=5) as smtp:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            smtp.send_message(mail("<x@shequ.notify>", "gone@example.org"))
        assert refused.value.recipients["gone@example.org"][0] == 550
        with pytest.raises(smtplib.SMTPRecipientsRefused) as deferred:
            smtp.send_message(mail("<y@shequ.notify>", "later@example.org"))
        assert deferred.value.recipients["later@example.org"][0] == 451
        smtp.send_message(mail("<y@shequ.notify>", "later@example.org"))
    assert set(sinks.records.emails()) == {"<y@shequ.notify>"}


def test_messages_endpoint_shows_what_arrived(sinks: Sinks, http: httpx.Client) -> None:
    http.post(sinks.sms_endpoint, data=batch(sinks, ["13800000001"], [str(uuid.uuid4())]))
    http.post(sinks.webhook_url("k"), json={"msgtype": "text", "text": {"content": "好"}})
    shown = http.get(f"{sinks.http_url}/messages").json()
    assert shown["sms"]["accepted"] == 1
    assert shown["sms"]["latest"][0]["phone"] == "13800000001"
    assert shown["robot_posts"]["by_key"] == {"k": 1}
    assert shown["emails"]["unique"] == 0
