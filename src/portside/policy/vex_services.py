"""VEX statements: the publisher states, the security team reviews, customers read.

A publisher (an owner or editor of the product's organisation) states that a product is
``not_affected`` by a vulnerability (with one of OpenVEX's justifications, and optionally
an impact statement), ``under_investigation``, ``fixed`` or ``affected`` (with an action
statement): for one finding (an image digest and a package) or for the whole product,
optionally until an expiry. Statements may also be imported from an OpenVEX document
(:func:`import_document`); each becomes a pending statement. The security team (store
role ``security`` or ``admin``) approves or rejects each pending statement, with a reason
for a rejection; the publisher may withdraw a pending or approved statement.

Only approved statements count: :func:`portside.policy.vex.covers` says which findings an
approved ``not_affected`` statement covers (the SLA clocks stop for them), customers
entitled to the product read them (:func:`approved`), and :func:`export_document` writes
them as one OpenVEX document. An approval attaches an OpenVEX document holding the
statement to each image it is about, as an OCI referrer (artifact type
``application/openvex+json``, the image as ``subject``), so registry clients find it
through ``/v2/<name>/referrers/<digest>``; a withdrawal removes those referrers. A newer
approved statement about the same vulnerability, package and image supersedes an older
one (the older is withdrawn, as superseded).

Every change is audited (``policy:vex:stated``, ``policy:vex:imported``,
``policy:vex:approved``, ``policy:vex:rejected``, ``policy:vex:withdrawn``,
``policy:vex:superseded``) and emitted as ``policy:vex:reviewed`` inside its transaction;
approvals, rejections, withdrawals and imports have the product's clocks reconciled once
they commit. Approving an approved statement, rejecting a rejected one and withdrawing a
withdrawn one change nothing (a retried request is harmless), and stating or importing a
statement identical to a pending or approved one returns that one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import json
import logging
import re
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Q, QuerySet

from portside.accounts import permissions
from portside.audit import services as audit
from portside.blobstore.base import BlobStoreError
from portside.catalog.models import Product, ProductSource
from portside.core import clock, events
from portside.core.errors import Conflict, PermissionDenied, PortsideError, ValidationFailed
from portside.core.origin import Origin
from portside.oci import mediatypes
from portside.oci.digest import Digest, compute
from portside.oci.errors import OCIError
from portside.policy import vex
from portside.policy.models import VexJustification, VexReview, VexStatement, VexStatus
from portside.registry.models import Manifest, Repository, Tag

logger = logging.getLogger(__name__)

EVENT = "policy:vex:reviewed"
EMPTY_CONFIG = b"{}"
MAX_REFERRED_IMAGES = 200
MAX_REASON = 2000
PACKAGE_TYPE = re.compile(r"[a-z][a-z0-9.+-]{0,31}")


@dataclasses.dataclass(frozen=True)
class Scope:
    """What a statement is about, beyond its product and vulnerability."""

    digest: str = ""
    package_type: str = ""
    package_name: str = ""


# --- helpers --------------------------------------------------------------------------------


def registry_host() -> str:
    """The host registry clients use (``PORTSIDE_BASE_URL``'s)."""
    return urlsplit(settings.BASE_URL).netloc.lower()


def _reconcile_later(product_id: int) -> None:
    """Have the product's SLA clocks matched against its statements once this commits."""

    def run() -> None:
        clocks = importlib.import_module("portside.policy.clocks")
        clocks.reconcile(product_id)

    transaction.on_commit(run)


def _tell(statement: VexStatement, product: Product, reason: str = "") -> None:
    events.emit(
        EVENT,
        statement_id=statement.pk,
        product_id=product.pk,
        organization_id=product.organization_id,
        product=product.name,
        advisory_id=statement.advisory_id,
        review=statement.review,
        reason=reason,
    )


def _audit(
    acting: Any, action: str, statement: VexStatement, product: Product, origin: Origin, **more: Any
) -> None:
    audit.record(
        acting,
        action,
        statement,
        organization=product.organization,
        product=product.name,
        product_id=product.pk,
        advisory_id=statement.advisory_id,
        status=statement.status,
        digest=statement.digest,
        package_type=statement.package_type,
        package_name=statement.package_name,
        **more,
        **origin.audit_fields(),
    )


def _reason(reason: str, *, required: bool) -> str:
    reason = (reason or "").strip()
    if required and not reason:
        raise ValidationFailed("Give a reason.", field="reason")
    if len(reason) > MAX_REASON:
        raise ValidationFailed(f"At most {MAX_REASON} characters.", field="reason")
    return reason


def repositories(product: Product) -> list[Repository]:
    return [
        s.repository
        for s in ProductSource.objects.select_related("repository").filter(product=product)
    ]


def product_digests(product: Product) -> dict[str, list[Repository]]:
    """Image digests in the product's repositories, with the repositories holding them."""
    repos = {r.pk: r for r in repositories(product)}
    out: dict[str, list[Repository]] = {}
    for repo_id, digest in Manifest.objects.filter(repository_id__in=list(repos)).values_list(
        "repository_id", "digest"
    ):
        out.setdefault(digest, []).append(repos[repo_id])
    return out


def _has_image(product: Product, digest: str) -> bool:
    return Manifest.objects.filter(
        repository_id__in=[r.pk for r in repositories(product)], digest=digest
    ).exists()


# --- stating --------------------------------------------------------------------------------


def _checked(
    product: Product,
    *,
    advisory_id: str,
    status: str,
    justification: str,
    impact_statement: str,
    action_statement: str,
    scope: Scope,
    expires_at: dt.datetime | None,
    now: dt.datetime,
) -> dict[str, Any]:
    """The statement's fields, validated by the store's rules (stricter than OpenVEX's:
    ``not_affected`` always needs a machine-readable justification)."""
    advisory_id = (advisory_id or "").strip()
    if not advisory_id or len(advisory_id) > vex.MAX_ADVISORY_ID:
        raise ValidationFailed(
            "Name the vulnerability (at most 100 characters).", field="advisory_id"
        )
    if not vex.ADVISORY_ID.fullmatch(advisory_id):
        raise ValidationFailed("This is not a vulnerability identifier.", field="advisory_id")
    if status not in VexStatus.values:
        raise ValidationFailed("Choose a status.", field="status")
    justification = (justification or "").strip()
    if status == VexStatus.NOT_AFFECTED:
        if justification not in VexJustification.values:
            raise ValidationFailed(
                "A not affected statement needs one of OpenVEX's justifications.",
                field="justification",
            )
    elif justification:
        raise ValidationFailed(
            "A justification is only for not affected statements.", field="justification"
        )
    texts = {"impact_statement": impact_statement, "action_statement": action_statement}
    for name, text in texts.items():
        text = (text or "").strip()
        if len(text) > vex.MAX_TEXT or vex.CONTROL.search(text):
            raise ValidationFailed(f"At most {vex.MAX_TEXT} characters of text.", field=name)
        texts[name] = text
    if status == VexStatus.AFFECTED and not texts["action_statement"]:
        raise ValidationFailed(
            "An affected statement says what customers should do.", field="action_statement"
        )
    kind, name = scope.package_type.strip(), scope.package_name.strip()
    if bool(kind) != bool(name):
        raise ValidationFailed(
            "Give both the package's type and name, or neither.", field="package_name"
        )
    if kind and not PACKAGE_TYPE.fullmatch(kind):
        raise ValidationFailed(
            "This is not a package type (such as pypi or deb).", field="package_type"
        )
    if len(name) > vex.MAX_PACKAGE_NAME or vex.CONTROL.search(name):
        raise ValidationFailed("This is not a package name.", field="package_name")
    digest = scope.digest.strip()
    if digest:
        if not vex.IMAGE_DIGEST.fullmatch(digest):
            raise ValidationFailed("This is not an image digest.", field="digest")
        if not _has_image(product, digest):
            raise ValidationFailed("No image of this product has this digest.", field="digest")
    if expires_at is not None and expires_at <= now:
        raise ValidationFailed("The expiry must be in the future.", field="expires_at")
    return {
        "advisory_id": advisory_id,
        "status": status,
        "justification": justification,
        **texts,
        "package_type": kind,
        "package_name": name,
        "digest": digest,
        "expires_at": expires_at,
    }


def _existing(product: Product, fields: dict[str, Any]) -> VexStatement | None:
    """A pending or approved statement saying exactly the same thing, if any."""
    return (
        VexStatement.objects.filter(
            product=product, review__in=(VexReview.PENDING, VexReview.APPROVED), **fields
        )
        .order_by("pk")
        .first()
    )


def _create(
    product: Product,
    fields: dict[str, Any],
    *,
    acting: Any,
    origin: Origin,
    now: dt.datetime,
    **more: Any,
) -> tuple[VexStatement, bool]:
    found = _existing(product, fields)
    if found is not None:
        return found, False
    statement = VexStatement.objects.create(
        product=product,
        organization_id=product.organization_id,
        created_at=now,
        created_by_id=getattr(acting, "pk", None),
        **fields,
    )
    _audit(acting, "policy:vex:stated", statement, product, origin, **more)
    _tell(statement, product)
    return statement, True


def state(
    *,
    product: Product,
    advisory_id: str,
    status: str,
    acting: Any,
    origin: Origin,
    justification: str = "",
    impact_statement: str = "",
    action_statement: str = "",
    package_type: str = "",
    package_name: str = "",
    digest: str = "",
    expires_at: dt.datetime | None = None,
) -> VexStatement:
    """A pending statement about ``product`` (see the module's docstring); an identical
    pending or approved statement is returned instead of a second one."""
    if not permissions.can_state_vex(acting, product.organization):
        raise PermissionDenied("Only the publisher's owners and editors state VEX statements.")
    now = clock.now()
    fields = _checked(
        product,
        advisory_id=advisory_id,
        status=status,
        justification=justification,
        impact_statement=impact_statement,
        action_statement=action_statement,
        scope=Scope(digest=digest, package_type=package_type, package_name=package_name),
        expires_at=expires_at,
        now=now,
    )
    with transaction.atomic():
        statement, _ = _create(
            product, fields, acting=acting, origin=origin, now=now, source="form"
        )
    return statement


# --- reviewing ------------------------------------------------------------------------------


def _locked(statement: VexStatement) -> tuple[VexStatement, Product]:
    row = VexStatement.objects.select_for_update().get(pk=statement.pk)
    product = Product.objects.select_related("organization").get(pk=row.product_id)
    return row, product


def approve(
    *, statement: VexStatement, acting: Any, origin: Origin, reason: str = ""
) -> VexStatement:
    """Approve a pending statement: it counts from now, its OpenVEX document is attached
    to its images, and older approved statements about the same thing are superseded.
    Approving an approved statement changes nothing."""
    if not permissions.can_review_vex(acting):
        raise PermissionDenied("Only the store's security team approves VEX statements.")
    reason = _reason(reason, required=False)
    now = clock.now()
    with transaction.atomic():
        row, product = _locked(statement)
        if row.review == VexReview.APPROVED:
            return row
        if row.review != VexReview.PENDING:
            raise Conflict(f"This statement is {row.get_review_display().lower()}, not pending.")
        if row.created_by_id is not None and row.created_by_id == getattr(acting, "pk", None):
            raise PermissionDenied("A statement is approved by someone other than its author.")
        if row.expires_at is not None and row.expires_at <= now:
            raise Conflict("This statement has expired; the publisher states it again.")
        row.review = VexReview.APPROVED
        row.reviewed_at = now
        row.reviewed_by_id = getattr(acting, "pk", None)
        row.review_reason = reason
        _supersede(row, product, acting=acting, origin=origin)
        row.referrer_digests = _attach(row, product, origin=origin)
        row.save(
            update_fields=[
                "review",
                "reviewed_at",
                "reviewed_by_id",
                "review_reason",
                "referrer_digests",
            ]
        )
        _audit(
            acting,
            "policy:vex:approved",
            row,
            product,
            origin,
            reason=reason,
            referrers=row.referrer_digests,
        )
        _tell(row, product, reason)
        _reconcile_later(product.pk)
    return row


def reject(*, statement: VexStatement, acting: Any, origin: Origin, reason: str) -> VexStatement:
    """Reject a pending statement, saying why. Rejecting a rejected one changes nothing."""
    if not permissions.can_review_vex(acting):
        raise PermissionDenied("Only the store's security team rejects VEX statements.")
    reason = _reason(reason, required=True)
    with transaction.atomic():
        row, product = _locked(statement)
        if row.review == VexReview.REJECTED:
            return row
        if row.review != VexReview.PENDING:
            raise Conflict(f"This statement is {row.get_review_display().lower()}, not pending.")
        row.review = VexReview.REJECTED
        row.reviewed_at = clock.now()
        row.reviewed_by_id = getattr(acting, "pk", None)
        row.review_reason = reason
        row.save(update_fields=["review", "reviewed_at", "reviewed_by_id", "review_reason"])
        _audit(acting, "policy:vex:rejected", row, product, origin, reason=reason)
        _tell(row, product, reason)
        _reconcile_later(product.pk)
    return row


def withdraw(
    *, statement: VexStatement, acting: Any, origin: Origin, reason: str = ""
) -> VexStatement:
    """The publisher takes back a pending or approved statement; its referrers go. Once
    withdrawn, withdrawing again changes nothing."""
    product = Product.objects.select_related("organization").get(pk=statement.product_id)
    if not permissions.can_state_vex(acting, product.organization):
        raise PermissionDenied("Only the publisher's owners and editors withdraw statements.")
    reason = _reason(reason, required=False)
    with transaction.atomic():
        row, product = _locked(statement)
        if row.review == VexReview.WITHDRAWN:
            return row
        if row.review == VexReview.REJECTED:
            raise Conflict("A rejected statement has nothing to withdraw.")
        _end(
            row, product, acting=acting, origin=origin, action="policy:vex:withdrawn", reason=reason
        )
        _reconcile_later(product.pk)
    return row


def _end(
    row: VexStatement, product: Product, *, acting: Any, origin: Origin, action: str, reason: str
) -> None:
    was = row.review
    row.review = VexReview.WITHDRAWN
    row.review_reason = (
        reason if was == VexReview.PENDING or not row.review_reason else row.review_reason
    )
    removed = _detach(row, origin=origin)
    row.referrer_digests = []
    row.save(update_fields=["review", "review_reason", "referrer_digests"])
    _audit(acting, action, row, product, origin, reason=reason, was=was, referrers_removed=removed)
    _tell(row, product, reason)


def _supersede(row: VexStatement, product: Product, *, acting: Any, origin: Origin) -> None:
    older = (
        VexStatement.objects.select_for_update()
        .filter(
            product=product,
            review=VexReview.APPROVED,
            advisory_id__iexact=row.advisory_id,
            package_type=row.package_type,
            package_name=row.package_name,
            digest=row.digest,
        )
        .exclude(pk=row.pk)
    )
    for old in older:
        _end(
            old,
            product,
            acting=acting,
            origin=origin,
            action="policy:vex:superseded",
            reason=f"Superseded by statement {row.pk}.",
        )


# --- referrers ------------------------------------------------------------------------------


def _images(row: VexStatement, product: Product) -> list[Manifest]:
    """The images a statement is about: its digest, or every image the product's sources'
    tags point to now (at most :data:`MAX_REFERRED_IMAGES`)."""
    sources = ProductSource.objects.filter(product=product)
    repo_ids = [s.repository_id for s in sources]
    if row.digest:
        qs = Manifest.objects.filter(repository_id__in=repo_ids, digest=row.digest)
        return list(qs.select_related("repository").order_by("pk")[:MAX_REFERRED_IMAGES])
    wanted = Q(pk__in=[])
    for source in sources:
        wanted |= Q(repository_id=source.repository_id, name__in=list(source.tags or []))
    ids = set(Tag.objects.filter(wanted).values_list("manifest_id", flat=True))
    qs = Manifest.objects.filter(pk__in=ids).select_related("repository").order_by("pk")
    return list(qs[:MAX_REFERRED_IMAGES])


def _image_of(manifest: Manifest) -> vex.Image:
    return vex.Image(
        repository=manifest.repository.name, registry=registry_host(), digest=manifest.digest
    )


def _package(row: VexStatement) -> vex.Package | None:
    if row.package_type and row.package_name:
        return vex.Package(type=row.package_type, name=row.package_name)
    return None


def _vex_statement(row: VexStatement, images: list[vex.Image], base: str) -> vex.Statement:
    package = _package(row)
    subs = (vex.Component(package=package),) if package else ()
    return vex.Statement(
        id=f"{base}#statement-{row.pk}",
        advisory_id=row.advisory_id,
        status=row.status,
        products=tuple(
            vex.Product(component=vex.Component(image=i), subcomponents=subs) for i in images
        ),
        justification=row.justification,
        impact_statement=row.impact_statement,
        action_statement=row.action_statement,
        timestamp=row.reviewed_at or row.created_at,
    )


def _document_base(product: Product) -> str:
    return vex.document_id(settings.BASE_URL, "vex", product.organization.name, product.slug)


def _author(product: Product) -> str:
    return product.organization.title or product.organization.name


def referrer_document(row: VexStatement, product: Product, manifest: Manifest) -> bytes:
    """The OpenVEX document attached to one image: the statement, about that image."""
    base = _document_base(product)
    statement = _vex_statement(row, [_image_of(manifest)], base)
    stamp = row.reviewed_at or row.created_at
    document = vex.Document(
        id=f"{base}/statements/{row.pk}",
        author=_author(product),
        role="Publisher",
        timestamp=stamp,
        version=1,
        tooling="Portside",
        statements=(statement,),
    )
    return vex.serialise(document)


def _attach(row: VexStatement, product: Product, *, origin: Origin) -> list[str]:
    """Push the statement's document as a referrer of each of its images; each push in a
    savepoint, so an image that cannot take one (its store unreachable) does not undo the
    approval (it is logged)."""
    from portside.registry import services as registry

    attached: list[str] = []
    for image in _images(row, product):
        repository = image.repository
        try:
            with transaction.atomic():
                data = referrer_document(row, product, image)
                blob = registry.store_blob(repository=repository, data=data)
                config = registry.store_blob(repository=repository, data=EMPTY_CONFIG)
                body = json.dumps(
                    {
                        "schemaVersion": 2,
                        "mediaType": mediatypes.OCI_MANIFEST,
                        "artifactType": vex.MEDIA_TYPE,
                        "config": {
                            "mediaType": mediatypes.OCI_EMPTY,
                            "digest": config.digest,
                            "size": config.size,
                        },
                        "layers": [
                            {"mediaType": vex.MEDIA_TYPE, "digest": blob.digest, "size": blob.size}
                        ],
                        "subject": {
                            "mediaType": image.media_type,
                            "digest": image.digest,
                            "size": image.size,
                        },
                        "annotations": {
                            "org.opencontainers.image.created": (
                                row.reviewed_at or row.created_at
                            ).isoformat(),
                            "org.opencontainers.image.vendor": "Portside",
                            "org.opencontainers.image.description": (
                                f"VEX: {row.status} {row.advisory_id}"
                            ),
                        },
                    },
                    sort_keys=True,
                ).encode()
                stored, _ = registry.put_manifest(
                    repository=repository,
                    reference=compute(body),
                    body=body,
                    content_type=mediatypes.OCI_MANIFEST,
                    user=None,
                    origin=origin,
                )
        except (OCIError, BlobStoreError, PortsideError, OSError, DatabaseError):
            logger.exception(
                "the VEX document of statement %s was not attached to %s", row.pk, image
            )
            continue
        attached.append(f"{repository.name}@{stored.digest}")
    return attached


def _detach(row: VexStatement, *, origin: Origin) -> list[str]:
    from portside.registry import services as registry

    removed = []
    for reference in row.referrer_digests or []:
        name, _, digest = str(reference).rpartition("@")
        repository = Repository.objects.filter(name=name).first()
        if repository is None:
            continue
        try:
            with transaction.atomic():
                registry.delete_manifest(
                    repository=repository, reference=Digest.parse(digest), user=None, origin=origin
                )
        except OCIError:  # deleted by the publisher already
            logger.info("VEX referrer %s was already gone", reference)
            continue
        removed.append(str(reference))
    return removed


# --- importing and exporting ----------------------------------------------------------------


def _scopes(product: Product, statement: vex.Statement, where: str) -> list[Scope]:
    """The store's scopes for an OpenVEX statement's products: each must name an image of
    this product (or a package, meaning any of its images)."""
    repos = {r.name: r for r in repositories(product)}
    digests = product_digests(product)
    host = registry_host()
    scopes: list[Scope] = []
    for i, item in enumerate(statement.products):
        path = f"{where}.products[{i}]"
        image, digest = item.component.image, ""
        packages = [c.package for c in item.subcomponents]
        if image is None and item.component.package is None:
            raise vex.VexDocumentError(f"{path}: names no image of {product.name}", field=path)
        if image is not None:
            if image.registry and image.registry != host:
                raise vex.VexDocumentError(
                    f"{path}: names an image of another registry ({image.registry})", field=path
                )
            if image.repository and image.repository not in repos:
                raise vex.VexDocumentError(
                    f"{path}: {image.repository} is not a repository of {product.name}", field=path
                )
            if image.digest:
                holders = digests.get(image.digest, [])
                if not holders or (image.repository and repos[image.repository] not in holders):
                    raise vex.VexDocumentError(
                        f"{path}: {image.digest} is not an image of {product.name}", field=path
                    )
                digest = image.digest
        else:
            packages = [item.component.package, *packages]
        for j, package in enumerate(packages):
            if package is None:
                sub = f"{path}.subcomponents[{j}]"
                raise vex.VexDocumentError(f"{sub}: names no package (a package URL)", field=sub)
        if not packages:
            scopes.append(Scope(digest=digest))
        for package in packages:
            assert package is not None
            scopes.append(
                Scope(digest=digest, package_type=package.type, package_name=package.name)
            )
    return list(dict.fromkeys(scopes))


def import_document(
    *, product: Product, data: bytes, acting: Any, origin: Origin
) -> list[VexStatement]:
    """Every statement of an OpenVEX document, as pending statements about ``product``;
    all or nothing. Statements identical to pending or approved ones are not repeated, so
    importing the same document twice adds nothing."""
    if not permissions.can_state_vex(acting, product.organization):
        raise PermissionDenied("Only the publisher's owners and editors import VEX statements.")
    document = vex.parse(data)
    now = clock.now()
    planned: list[dict[str, Any]] = []
    for i, s in enumerate(document.statements):
        where = f"statements[{i}]"
        for scope in _scopes(product, s, where):
            try:
                planned.append(
                    _checked(
                        product,
                        advisory_id=s.advisory_id,
                        status=s.status,
                        justification=s.justification,
                        impact_statement=s.impact_statement,
                        action_statement=s.action_statement,
                        scope=scope,
                        expires_at=None,
                        now=now,
                    )
                )
            except ValidationFailed as exc:
                field = f"{where}.{exc.field}" if exc.field else where
                raise vex.VexDocumentError(f"{field}: {exc.message}", field=field) from None
    out: list[VexStatement] = []
    created = 0
    with transaction.atomic():
        for fields in dict.fromkeys(json.dumps(f, default=str, sort_keys=True) for f in planned):
            chosen = next(
                f for f in planned if json.dumps(f, default=str, sort_keys=True) == fields
            )
            statement, new = _create(
                product,
                chosen,
                acting=acting,
                origin=origin,
                now=now,
                source="import",
                document=document.id[:500],
            )
            created += new
            out.append(statement)
        audit.record(
            acting,
            "policy:vex:imported",
            product,
            organization=product.organization,
            document=document.id[:500],
            author=document.author[:200],
            statements=len(out),
            created=created,
            **origin.audit_fields(),
        )
        _reconcile_later(product.pk)
    return out


def approved(product: Product, now: dt.datetime | None = None) -> QuerySet[VexStatement]:
    """The product's statements that count now: approved and not expired."""
    now = now or clock.now()
    return (
        VexStatement.objects.filter(product=product, review=VexReview.APPROVED)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .order_by("advisory_id", "pk")
    )


def _version(product: Product, now: dt.datetime) -> int:
    """How many times the exported content changed: each approval, each withdrawal of an
    approved statement and each expiry adds one."""
    rows = VexStatement.objects.filter(product=product, reviewed_at__isnull=False).exclude(
        review=VexReview.REJECTED
    )
    approvals = rows.count()
    ended = rows.filter(review=VexReview.WITHDRAWN).count()
    expired = rows.filter(review=VexReview.APPROVED, expires_at__lte=now).count()
    return max(1, approvals + ended + expired)


def export_document(*, product: Product, now: dt.datetime | None = None) -> vex.Document:
    """The product's approved statements (not expired) as one OpenVEX document."""
    now = now or clock.now()
    base = _document_base(product)
    digests = product_digests(product)
    host = registry_host()
    repos = repositories(product)
    statements = []
    latest: dt.datetime | None = None
    for row in approved(product, now):
        if row.digest:
            holders = digests.get(row.digest) or []
            images = [
                vex.Image(repository=r.name, registry=host, digest=row.digest) for r in holders
            ]
        else:
            images = [vex.Image(repository=r.name, registry=host) for r in repos]
        if not images:
            continue  # its image is gone from the product: nothing left to name
        statements.append(_vex_statement(row, images, base))
        stamp = row.reviewed_at or row.created_at
        latest = stamp if latest is None or stamp > latest else latest
    return vex.Document(
        id=base,
        author=_author(product),
        role="Publisher",
        timestamp=latest or now,
        version=_version(product, now),
        tooling="Portside",
        statements=tuple(statements),
    )
