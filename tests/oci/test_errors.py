import pytest

from portside.oci import errors

EXPECTED = {
    errors.BlobUnknown: ("BLOB_UNKNOWN", 404),
    errors.BlobUploadInvalid: ("BLOB_UPLOAD_INVALID", 400),
    errors.BlobUploadUnknown: ("BLOB_UPLOAD_UNKNOWN", 404),
    errors.DigestInvalid: ("DIGEST_INVALID", 400),
    errors.ManifestBlobUnknown: ("MANIFEST_BLOB_UNKNOWN", 400),
    errors.ManifestInvalid: ("MANIFEST_INVALID", 400),
    errors.ManifestUnknown: ("MANIFEST_UNKNOWN", 404),
    errors.NameInvalid: ("NAME_INVALID", 400),
    errors.NameUnknown: ("NAME_UNKNOWN", 404),
    errors.SizeInvalid: ("SIZE_INVALID", 400),
    errors.Unauthorized: ("UNAUTHORIZED", 401),
    errors.Denied: ("DENIED", 403),
    errors.Unsupported: ("UNSUPPORTED", 415),
    errors.TooManyRequests: ("TOOMANYREQUESTS", 429),
    errors.RangeInvalid: ("BLOB_UPLOAD_INVALID", 416),
    errors.TagInvalid: ("TAG_INVALID", 400),
    errors.PaginationNumberInvalid: ("PAGINATION_NUMBER_INVALID", 400),
    errors.UploadBusy: ("BLOB_UPLOAD_INVALID", 409),
    errors.InsufficientStorage: ("BLOB_UPLOAD_INVALID", 507),
}


@pytest.mark.parametrize(
    ("cls", "expected"), EXPECTED.items(), ids=lambda v: getattr(v, "__name__", "")
)
def test_each_error_knows_its_code_status_and_message(cls, expected):
    error = cls()
    assert issubclass(cls, errors.OCIError)
    assert (error.code, error.status) == expected
    assert error.message and str(error) == error.message
    assert error.body() == {"errors": [{"code": expected[0], "message": error.message}]}


def test_every_error_class_is_covered():
    defined = {
        obj
        for obj in vars(errors).values()
        if isinstance(obj, type) and issubclass(obj, errors.OCIError) and obj is not errors.OCIError
    }
    assert defined == set(EXPECTED)


def test_body_carries_message_and_detail():
    error = errors.BlobUnknown("no such blob", detail={"digest": "sha256:abc"})
    assert error.message == "no such blob"
    assert error.detail == {"digest": "sha256:abc"}
    assert error.body() == {
        "errors": [
            {"code": "BLOB_UNKNOWN", "message": "no such blob", "detail": {"digest": "sha256:abc"}}
        ]
    }


def test_falsy_detail_other_than_none_is_kept():
    assert errors.Denied(detail=[]).body()["errors"][0]["detail"] == []


def test_errors_can_be_caught_as_the_base_class():
    with pytest.raises(errors.OCIError) as caught:
        raise errors.NameUnknown(detail={"name": "acme/app"})
    assert caught.value.status == 404
    assert "NameUnknown" in repr(caught.value)
