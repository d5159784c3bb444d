import datetime as dt

import pytest
from django.core import mail
from django.db import IntegrityError, transaction

from portside.accounts import services
from portside.accounts.models import AccessToken, Membership, Namespace, Organization, OrgRole, User
from portside.audit.models import AuditEvent
from portside.core import clock
from portside.core.errors import AuthenticationFailed, Conflict, PermissionDenied, ValidationFailed
from tests.factories import TEST_ORIGIN, make_org, make_user

pytestmark = pytest.mark.django_db


def actions():
    return list(AuditEvent.objects.order_by("id").values_list("action", flat=True))


class TestOrganizations:
    def test_create_makes_owner_and_audits(self):
        alice = make_user("alice")
        org = services.create_organization(
            name="acme", owner=alice, acting=alice, origin=TEST_ORIGIN
        )
        assert Membership.objects.get(organization=org).role == OrgRole.OWNER
        row = AuditEvent.objects.get(action="account:organization:created")
        assert (row.actor_name, row.organization_name, row.ip_address) == (
            "alice",
            "acme",
            "127.0.0.1",
        )

    @pytest.mark.parametrize("bad", ["Acme", "a", "no spaces", "-x", "v2", "x" * 40, "../../etc"])
    def test_invalid_names_are_refused_and_nothing_is_written(self, bad):
        alice = make_user("alice")
        before = AuditEvent.objects.count()
        with pytest.raises(ValidationFailed):
            services.create_organization(name=bad, owner=alice, acting=alice, origin=TEST_ORIGIN)
        assert not Organization.objects.exists()
        assert AuditEvent.objects.count() == before

    def test_duplicate_name_is_a_conflict_and_nothing_is_half_written(self):
        alice = make_user("alice")
        make_org("acme", alice)
        with pytest.raises(Conflict):
            services.create_organization(name="acme", owner=alice, acting=alice, origin=TEST_ORIGIN)
        assert Organization.objects.count() == 1
        assert Membership.objects.count() == 1

    def test_org_cannot_take_a_user_name_and_back(self):
        alice = make_user("alice")
        with pytest.raises(Conflict):
            services.create_organization(
                name="alice", owner=alice, acting=alice, origin=TEST_ORIGIN
            )
        make_org("acme", alice)
        with pytest.raises(Conflict), transaction.atomic():
            User.objects.create_user(username="acme", email="x@example.com", password="x")
        assert Namespace.objects.filter(name="acme").get().kind == "org"

    def test_namespace_uniqueness_is_enforced_by_the_database(self):
        Namespace.objects.create(name="taken", kind="org")
        with pytest.raises(IntegrityError), transaction.atomic():
            Namespace.objects.create(name="taken", kind="user")


class TestMembers:
    def setup_method(self):
        self.owner = make_user("owner")
        self.viewer = make_user("viewer")
        self.org = make_org("acme", self.owner, members={OrgRole.VIEWER: self.viewer})

    def test_invitation_round_trip(self, django_capture_on_commit_callbacks):
        invitee = make_user("bob", email="bob@example.com")
        with django_capture_on_commit_callbacks(execute=True):
            inv, secret = services.invite_member(
                organization=self.org,
                email="BOB@example.com",
                role=OrgRole.EDITOR,
                acting=self.owner,
                origin=TEST_ORIGIN,
                base_url="http://store.test",
            )
        assert len(mail.outbox) == 1
        assert f"http://store.test/invitations/{secret}/" in mail.outbox[0].body
        assert secret not in inv.secret_hash
        membership = services.accept_invitation(secret=secret, user=invitee, origin=TEST_ORIGIN)
        assert membership.role == OrgRole.EDITOR
        with pytest.raises(Conflict):
            services.accept_invitation(secret=secret, user=invitee, origin=TEST_ORIGIN)
        assert "account:membership:added" in actions()

    def test_invitation_for_someone_else_is_refused(self):
        other = make_user("mallory")
        _, secret = services.invite_member(
            organization=self.org,
            email="bob@example.com",
            role=OrgRole.OWNER,
            acting=self.owner,
            origin=TEST_ORIGIN,
        )
        with pytest.raises(PermissionDenied):
            services.accept_invitation(secret=secret, user=other, origin=TEST_ORIGIN)
        assert not Membership.objects.filter(user=other).exists()

    def test_expired_and_withdrawn_invitations(self):
        bob = make_user("bob")
        inv, secret = services.invite_member(
            organization=self.org,
            email=bob.email,
            role=OrgRole.VIEWER,
            acting=self.owner,
            origin=TEST_ORIGIN,
        )
        with (
            clock.frozen(clock.now() + dt.timedelta(days=15)),
            pytest.raises(Conflict, match="expired"),
        ):
            services.accept_invitation(secret=secret, user=bob, origin=TEST_ORIGIN)
        services.revoke_invitation(invitation=inv, acting=self.owner, origin=TEST_ORIGIN)
        with pytest.raises(Conflict):
            services.accept_invitation(secret=secret, user=bob, origin=TEST_ORIGIN)

    def test_only_owners_invite(self):
        with pytest.raises(PermissionDenied):
            services.invite_member(
                organization=self.org,
                email="x@example.com",
                role=OrgRole.OWNER,
                acting=self.viewer,
                origin=TEST_ORIGIN,
            )

    @pytest.mark.parametrize("email", ["not-an-email", "a@", "", "x" * 300 + "@example.com"])
    def test_invalid_invitation_email(self, email):
        with pytest.raises(ValidationFailed):
            services.invite_member(
                organization=self.org,
                email=email,
                role=OrgRole.VIEWER,
                acting=self.owner,
                origin=TEST_ORIGIN,
            )

    def test_last_owner_cannot_leave_or_be_demoted(self):
        owner_membership = Membership.objects.get(user=self.owner)
        with pytest.raises(Conflict):
            services.change_role(
                membership=owner_membership,
                role=OrgRole.VIEWER,
                acting=self.owner,
                origin=TEST_ORIGIN,
            )
        with pytest.raises(Conflict):
            services.remove_member(
                membership=owner_membership, acting=self.owner, origin=TEST_ORIGIN
            )
        viewer_membership = Membership.objects.get(user=self.viewer)
        services.change_role(
            membership=viewer_membership, role=OrgRole.OWNER, acting=self.owner, origin=TEST_ORIGIN
        )
        services.change_role(
            membership=owner_membership, role=OrgRole.VIEWER, acting=self.owner, origin=TEST_ORIGIN
        )
        assert Membership.objects.get(user=self.owner).role == OrgRole.VIEWER

    def test_member_may_leave(self):
        services.remove_member(
            membership=Membership.objects.get(user=self.viewer),
            acting=self.viewer,
            origin=TEST_ORIGIN,
        )
        assert not Membership.objects.filter(user=self.viewer).exists()
        row = AuditEvent.objects.filter(action="account:membership:removed").get()
        assert row.details["left"] is True


class TestTokens:
    def test_secret_shown_once_stored_hashed(self):
        user = make_user()
        token, secret = services.create_token(
            user=user, name="ci", scopes=["read", "write"], acting=user, origin=TEST_ORIGIN
        )
        assert secret.startswith("psp_") and len(secret) == 44
        stored = AccessToken.objects.get(pk=token.pk)
        assert secret not in (stored.secret_hash, stored.prefix, str(stored.scopes))
        assert services.authenticate_token(secret, origin=TEST_ORIGIN).pk == token.pk

    def test_last_use_is_recorded_but_not_on_every_request(self):
        user = make_user()
        _, secret = services.create_token(
            user=user, name="ci", scopes=["read"], acting=user, origin=TEST_ORIGIN
        )
        start = clock.now()
        with clock.frozen(start) as frozen:
            services.authenticate_token(secret, origin=TEST_ORIGIN)
            first = AccessToken.objects.get().last_used_at
            frozen.advance(seconds=10)
            services.authenticate_token(secret, origin=TEST_ORIGIN)
            assert AccessToken.objects.get().last_used_at == first
            frozen.advance(seconds=61)
            services.authenticate_token(secret, origin=TEST_ORIGIN)
            assert AccessToken.objects.get().last_used_at > first

    def test_expired_revoked_and_malformed_tokens_are_refused(self):
        user = make_user()
        token, secret = services.create_token(
            user=user, name="ci", scopes=["read"], expires_days=1, acting=user, origin=TEST_ORIGIN
        )
        with (
            clock.frozen(clock.now() + dt.timedelta(days=1, seconds=1)),
            pytest.raises(AuthenticationFailed, match="expired"),
        ):
            services.authenticate_token(secret, origin=TEST_ORIGIN)
        services.revoke_token(token=token, acting=user, origin=TEST_ORIGIN)
        with pytest.raises(AuthenticationFailed, match="revoked"):
            services.authenticate_token(secret, origin=TEST_ORIGIN)
        for bad in [
            "",
            "psp_",
            "psp_" + "x" * 40,
            secret[:-1],
            secret + "x",
            "Bearer " + secret,
            "psp_" + "\x00" * 40,
        ]:
            with pytest.raises(AuthenticationFailed):
                services.authenticate_token(bad, origin=TEST_ORIGIN)
        assert actions()[-1] == "account:token:revoked"

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"scopes": []},
            {"scopes": ["admin"]},
            {"name": ""},
            {"name": "x" * 101},
            {"expires_days": 0},
            {"expires_days": 10_000},
        ],
    )
    def test_invalid_token_requests(self, kwargs):
        user = make_user()
        args = {"name": "ci", "scopes": ["read"], **kwargs}
        with pytest.raises(ValidationFailed):
            services.create_token(user=user, acting=user, origin=TEST_ORIGIN, **args)
        assert not AccessToken.objects.exists()

    def test_disabled_user_token_refused(self):
        user = make_user()
        _, secret = services.create_token(
            user=user, name="ci", scopes=["read"], acting=user, origin=TEST_ORIGIN
        )
        User.objects.filter(pk=user.pk).update(is_active=False)
        with pytest.raises(AuthenticationFailed, match="disabled"):
            services.authenticate_token(secret, origin=TEST_ORIGIN)

    def test_someone_elses_token_cannot_be_revoked(self):
        alice, bob = make_user(), make_user()
        token, _ = services.create_token(
            user=alice, name="ci", scopes=["read"], acting=alice, origin=TEST_ORIGIN
        )
        from portside.core.errors import NotFound

        with pytest.raises(NotFound):
            services.revoke_token(token=token, acting=bob, origin=TEST_ORIGIN)
        assert AccessToken.objects.get().revoked_at is None


class TestUsers:
    def test_create_user_verified(self):
        user = services.create_user(
            username="carol",
            email="carol@example.com",
            password="a-very-long-password-1",
            store_role="moderator",
            acting="cli",
            origin=TEST_ORIGIN,
        )
        assert user.emailaddress_set.get().verified
        assert user.check_password("a-very-long-password-1")

    @pytest.mark.parametrize(
        "kwargs, field",
        [
            ({"username": "Carol"}, "username"),
            ({"email": "nope"}, "email"),
            ({"password": "short"}, "password"),
            ({"password": "password123"}, "password"),
            ({"store_role": "god"}, "role"),
        ],
    )
    def test_create_user_refuses_bad_input(self, kwargs, field):
        args = {
            "username": "carol",
            "email": "carol@example.com",
            "password": "a-very-long-password-1",
            **kwargs,
        }
        with pytest.raises(ValidationFailed) as info:
            services.create_user(acting="cli", origin=TEST_ORIGIN, **args)
        assert info.value.field == field
        assert not User.objects.exists()


def test_mail_outage_does_not_fail_a_saved_invitation(
    settings, django_capture_on_commit_callbacks, caplog
):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": closed_port, "timeout": 2},
        }
    }
    owner = make_user("owner")
    org = make_org("acme", owner)
    with django_capture_on_commit_callbacks(execute=True):
        services.invite_member(
            organization=org,
            email="x@example.com",
            role=OrgRole.VIEWER,
            acting=owner,
            origin=TEST_ORIGIN,
        )
    assert org.invitations.count() == 1
    assert "could not send mail" in caplog.text
