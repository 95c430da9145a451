"""The notify service's settings (environment prefix ``NOTIFY_``), built once in main."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from shequ_kit.settings import ShequSettings


class NotifySettings(ShequSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFY_")

    database_url: str = "postgresql://notify@127.0.0.1:5432/notify"
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 50054
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    events_topic: str = "shequ.notify.v1"
    # Case notifications come from the cases service's facts.
    cases_topic: str = "shequ.cases.v1"
    consumer_group: str = "notify"
    keycloak_issuer: str = "http://127.0.0.1:8080/realms/shequ"
    token_audience: str = "shequ"  # noqa: S105 - an audience name, not a secret
    # Audiences resolve through census and grid as this service's own account (a scheduled
    # notice goes out long after the request that created it).
    service_client_id: str = "shequ-notify"
    service_client_secret: SecretStr = SecretStr("local-dev-notify-secret")
    census_target: str = "127.0.0.1:50051"
    grid_target: str = "127.0.0.1:50052"
    upstream_timeout_s: float = 5.0
    # A whole audience streamed from census (10,000 residents with phones, audited) takes
    # longer than one question.
    audience_stream_timeout_s: float = 120.0

    # E-mail over SMTP.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    smtp_sender: str = "社区通知 <notify@shequ.local>"
    smtp_timeout_s: float = 10.0
    # SMS through the provider adapter (Alibaba-Cloud-style signed RPC API).
    sms_endpoint: str = "http://127.0.0.1:8025/sms"
    sms_access_key_id: str = "local-dev-sms"
    sms_access_key_secret: SecretStr = SecretStr("local-dev-sms-secret")
    sms_sign_name: str = "社区通知"
    sms_template_code: str = "SMS_SHEQU_NOTICE"
    # Robot webhooks and the SMS provider.
    http_timeout_s: float = 5.0
    # The demo seed's robots post here (one key per Shibei complex, "shibei-<n>").
    wecom_seed_webhook: str = "http://127.0.0.1:8025/cgi-bin/webhook/send?key=shibei-{n}"

    # The dispatcher: how often it looks for work, how many deliveries per claim, how long a
    # claim holds before another replica may take it over, and the retry schedule.
    dispatch_interval_s: float = 0.2
    dispatch_batch: int = 200
    lease_s: float = 60.0
    max_attempts: int = 5
    retry_base_s: float = 2.0
    retry_cap_s: float = 300.0

    # Rate limits per process (the in-app inbox has none).
    rate_email_per_s: float = 200.0
    rate_sms_per_s: float = 2000.0
    # WeCom's documented limit per robot; one post carries the mentions of a whole batch.
    rate_wecom_per_min_per_robot: float = 20.0

    # Quiet hours (Asia/Shanghai wall time) unless a tenant's settings say otherwise.
    quiet_start: str = "21:00"
    quiet_end: str = "08:00"
