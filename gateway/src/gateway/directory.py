"""Keycloak as the directory of people and grants, through the gateway's service account.

A tenant node is a Keycloak group (``/xiaoshan/shushan/hushan``) with one sub-group per role
(``…/community-staff``); membership of a role group is a grant (see shequ_kit.tokens).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from keycloak import KeycloakAdmin, KeycloakOpenIDConnection
from keycloak.exceptions import KeycloakError, KeycloakGetError, KeycloakPostError

from shequ_kit.errors import DomainError, ErrorKind, FieldViolation, invalid_input
from shequ_kit.tenancy import TenantId
from shequ_kit.tokens import Role


def directory_unavailable(error: Exception) -> DomainError:
    return DomainError(
        "gateway.directory_unavailable",
        "身份目录（Keycloak）暂时不可用，请稍后重试",
        f"the identity directory (Keycloak) is unavailable: {type(error).__name__}",
        ErrorKind.UNAVAILABLE,
    )


@dataclass(frozen=True)
class Member:
    id: str
    username: str
    display_name: str
    email: str | None
    enabled: bool
    roles: tuple[Role, ...]


class KeycloakDirectory:
    def __init__(
        self, *, server_url: str, realm: str, client_id: str, client_secret: str, timeout_s: float
    ) -> None:
        connection = KeycloakOpenIDConnection(
            server_url=server_url.rstrip("/") + "/",
            realm_name=realm,
            user_realm_name=realm,
            client_id=client_id,
            client_secret_key=client_secret,
            grant_type="client_credentials",
            timeout=int(max(1, timeout_s)),
        )
        self._admin = KeycloakAdmin(connection=connection)

    def _group_id(self, path: str) -> str | None:
        try:
            return str(self._admin.get_group_by_path(path)["id"])
        except KeycloakGetError as error:
            if error.response_code == 404:
                return None
            raise directory_unavailable(error) from error
        except KeycloakError as error:
            raise directory_unavailable(error) from error

    def _ensure_group(self, path: str) -> str:
        existing = self._group_id(path)
        if existing is not None:
            return existing
        parent_path, _, name = path.rpartition("/")
        parent_id = self._ensure_group(parent_path) if parent_path else None
        try:
            self._admin.create_group({"name": name}, parent=parent_id, skip_exists=True)
        except KeycloakError as error:
            raise directory_unavailable(error) from error
        created = self._group_id(path)
        if created is None:
            raise directory_unavailable(RuntimeError(f"group {path} missing after creation"))
        return created

    def ensure_tenant_groups(self, tenant: TenantId, roles: tuple[Role, ...]) -> None:
        """Create the tenant's group and its role sub-groups, and any missing ancestors."""
        for role in roles:
            self._ensure_group(f"{tenant.group_path}/{role}")

    def create_member(
        self,
        *,
        tenant: TenantId,
        roles: tuple[Role, ...],
        username: str,
        display_name: str,
        email: str | None,
        initial_password: str,
        temporary_password: bool,
    ) -> str:
        """Create the account and grant it ``roles`` on ``tenant``; returns its id.

        The role groups are named in the creating request, so Keycloak stores the account with
        its grants in one transaction: a failure leaves either both or neither (an account
        without its grants could never be created again under its name).
        """
        role_groups = [f"{tenant.group_path}/{role}" for role in roles]
        for group in role_groups:
            self._ensure_group(group)
        family, given = (display_name[:1], display_name[1:]) if display_name else ("", "")
        payload = {
            "username": username,
            "enabled": True,
            "emailVerified": email is not None,
            "firstName": given or display_name,
            "lastName": family,
            "attributes": {"display_name": [display_name], "home_tenant": [tenant.value]},
            "groups": role_groups,
            "credentials": [
                {"type": "password", "value": initial_password, "temporary": temporary_password}
            ],
        }
        if email is not None:
            payload["email"] = email
        try:
            user_id = self._admin.create_user(payload, exist_ok=False)
        except KeycloakPostError as error:
            if error.response_code == 409:
                raise DomainError(
                    "gateway.member_exists",
                    f"用户名或邮箱 {username} 已被使用",
                    f"username or e-mail of {username!r} is already taken",
                    ErrorKind.ALREADY_EXISTS,
                ) from error
            if error.response_code == 400:
                raise _refused_account(error) from error
            raise directory_unavailable(error) from error
        except KeycloakError as error:
            raise directory_unavailable(error) from error
        return str(user_id)

    def members(self, tenant: TenantId, roles: tuple[Role, ...]) -> list[Member]:
        """Accounts holding any of ``roles`` directly on ``tenant``."""
        found: dict[str, tuple[dict[str, object], list[Role]]] = {}
        for role in roles:
            group_id = self._group_id(f"{tenant.group_path}/{role}")
            if group_id is None:
                continue
            try:
                users = self._admin.get_group_members(group_id, {"briefRepresentation": False})
            except KeycloakError as error:
                raise directory_unavailable(error) from error
            for user in users:
                found.setdefault(str(user["id"]), (user, []))[1].append(role)
        return sorted(
            (_member(user, roles_held) for user, roles_held in found.values()),
            key=lambda m: m.username,
        )

    def set_enabled(self, user_id: str, *, enabled: bool) -> None:
        try:
            self._admin.update_user(user_id, {"enabled": enabled})
        except KeycloakError as error:
            raise directory_unavailable(error) from error


# Keycloak's user attributes → the fields of the request that filled them.
_FIELD_OF_ATTRIBUTE = {
    "username": "username",
    "firstName": "display_name",
    "lastName": "display_name",
    "email": "email",
}


def _refused_account(error: KeycloakPostError) -> DomainError:
    """Keycloak's 400 (its user profile refuses a value, e.g. a control character in a name)
    as invalid input naming the request's field, not as the directory being away."""
    try:
        refusal = json.loads(error.response_body or b"{}")
    except ValueError:
        refusal = {}
    if not isinstance(refusal, dict):
        refusal = {}
    reason = str(
        refusal.get("errorMessage")
        or refusal.get("error_description")
        or refusal.get("error")
        or "refused"
    )
    # Without an attribute named, only the password policy remains to refuse a new account.
    field = _FIELD_OF_ATTRIBUTE.get(str(refusal.get("field")), "initial_password")
    return invalid_input(
        "gateway.member_refused",
        f"身份目录不接受该账号：{field} 含有不允许的字符或格式不对",
        f"the identity directory refused the account: {reason} ({field})",
        FieldViolation(field, reason),
    )


def _member(user: dict[str, object], roles: list[Role]) -> Member:
    attributes = user.get("attributes")
    names = attributes.get("display_name") if isinstance(attributes, dict) else None
    display = (
        str(names[0])
        if isinstance(names, list) and names
        else f"{user.get('lastName') or ''}{user.get('firstName') or ''}"
    )
    email = user.get("email")
    return Member(
        id=str(user["id"]),
        username=str(user["username"]),
        display_name=display,
        email=str(email) if email else None,
        enabled=bool(user.get("enabled", False)),
        roles=tuple(sorted(roles)),
    )
