"""ACL requests answered as AWS answers them with ACLs disabled (bucket owner
enforced): owner-only ACLs succeed and change nothing, any other grant is
AccessControlListNotSupported; through boto3, the aws cli and s3cmd."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from clients import aws, aws_env, s3cmd, s3cmd_config
from conftest import RunningServer

OWNER = {"ID": "pys3local", "DisplayName": "pys3local"}
OWNER_GRANT = {
    "Grantee": {"Type": "CanonicalUser", "ID": "pys3local"},
    "Permission": "FULL_CONTROL",
}
PUBLIC_READ_GRANT = {
    "Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
    "Permission": "READ",
}


def _code(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def _only_owner(acl: dict) -> bool:
    grants = acl["Grants"]
    return (
        len(grants) == 1
        and grants[0]["Grantee"]["ID"] == "pys3local"
        and grants[0]["Permission"] == "FULL_CONTROL"
    )


def test_PutObjectAcl_and_PutBucketAcl_owner_only_succeed(s3, bucket: str) -> None:
    """Canned private and bucket-owner-full-control, an owner-only grant header and an
    owner-only AccessControlPolicy succeed; GetObjectAcl/GetBucketAcl still show the
    owner with full control."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"data")
    for canned in ("private", "bucket-owner-full-control"):
        s3.put_object_acl(Bucket=bucket, Key="k", ACL=canned)
        s3.put_bucket_acl(Bucket=bucket, ACL=canned)
    s3.put_object_acl(Bucket=bucket, Key="k", GrantFullControl='id="pys3local"')
    policy = {"Owner": OWNER, "Grants": [OWNER_GRANT]}
    s3.put_object_acl(Bucket=bucket, Key="k", AccessControlPolicy=policy)
    s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy=policy)
    assert _only_owner(s3.get_object_acl(Bucket=bucket, Key="k"))
    assert _only_owner(s3.get_bucket_acl(Bucket=bucket))
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"data"


def test_PutObjectAcl_and_PutBucketAcl_other_grants_refused(s3, bucket: str) -> None:
    """public-read, grant headers for others and a policy with a public grant answer
    AccessControlListNotSupported (400); a missing key is NoSuchKey."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"data")
    attempts = [
        lambda: s3.put_object_acl(Bucket=bucket, Key="k", ACL="public-read"),
        lambda: s3.put_bucket_acl(Bucket=bucket, ACL="public-read-write"),
        lambda: s3.put_bucket_acl(Bucket=bucket, ACL="authenticated-read"),
        lambda: s3.put_object_acl(
            Bucket=bucket,
            Key="k",
            GrantRead='uri="http://acs.amazonaws.com/groups/global/AllUsers"',
        ),
        lambda: s3.put_object_acl(
            Bucket=bucket,
            Key="k",
            AccessControlPolicy={"Owner": OWNER, "Grants": [OWNER_GRANT, PUBLIC_READ_GRANT]},
        ),
    ]
    for attempt in attempts:
        with pytest.raises(ClientError) as caught:
            attempt()
        assert _code(caught) == ("AccessControlListNotSupported", 400)
    with pytest.raises(ClientError) as caught:
        s3.put_object_acl(Bucket=bucket, Key="missing", ACL="private")
    assert _code(caught)[0] == "NoSuchKey"
    assert _only_owner(s3.get_object_acl(Bucket=bucket, Key="k"))


def test_PutObject_CopyObject_CreateMultipartUpload_with_x_amz_acl(s3, bucket: str) -> None:
    """x-amz-acl private / bucket-owner-full-control is accepted on writes; a public
    ACL is refused with AccessControlListNotSupported and nothing is stored."""
    s3.put_object(Bucket=bucket, Key="a", Body=b"1", ACL="bucket-owner-full-control")
    s3.put_object(Bucket=bucket, Key="b", Body=b"2", ACL="private")
    s3.copy_object(Bucket=bucket, Key="c", CopySource=f"{bucket}/a", ACL="private")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="m", ACL="private")
    s3.abort_multipart_upload(Bucket=bucket, Key="m", UploadId=upload["UploadId"])
    refused = [
        lambda: s3.put_object(Bucket=bucket, Key="p", Body=b"x", ACL="public-read"),
        lambda: s3.copy_object(Bucket=bucket, Key="p", CopySource=f"{bucket}/a", ACL="public-read"),
        lambda: s3.create_multipart_upload(Bucket=bucket, Key="p", ACL="public-read-write"),
    ]
    for attempt in refused:
        with pytest.raises(ClientError) as caught:
            attempt()
        assert _code(caught) == ("AccessControlListNotSupported", 400)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["a", "b", "c"]
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_CreateBucket_with_public_acl_refused(s3) -> None:
    """CreateBucket with a public ACL answers InvalidBucketAclWithObjectOwnership and
    creates nothing; with ACL private it succeeds."""
    with pytest.raises(ClientError) as caught:
        s3.create_bucket(Bucket="acl-public-bucket", ACL="public-read")
    assert _code(caught) == ("InvalidBucketAclWithObjectOwnership", 400)
    assert "acl-public-bucket" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.create_bucket(Bucket="acl-private-bucket", ACL="private")
    s3.head_bucket(Bucket="acl-private-bucket")


def test_PutObjectAcl_aws_cli(server: RunningServer, s3, bucket: str, tmp_path: Path) -> None:
    """``aws s3api put-object-acl --acl private`` succeeds; ``--acl public-read`` fails
    with AccessControlListNotSupported."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"data")
    env = aws_env(server, tmp_path)
    aws(
        server, env, "s3api", "put-object-acl", "--bucket", bucket, "--key", "k", "--acl", "private"
    )
    aws(server, env, "s3api", "put-bucket-acl", "--bucket", bucket, "--acl", "private")
    result = aws(
        server,
        env,
        "s3api",
        "put-object-acl",
        "--bucket",
        bucket,
        "--key",
        "k",
        "--acl",
        "public-read",
        check=False,
    )
    assert result.returncode != 0
    assert "AccessControlListNotSupported" in result.output


def test_PutObjectAcl_s3cmd_setacl(server: RunningServer, s3, bucket: str, tmp_path: Path) -> None:
    """``s3cmd setacl --acl-grant=full_control:<owner>`` (GET ?acl, then PUT ?acl with
    the owner's grant) succeeds, and so does ``s3cmd cp`` (which copies the ACL the
    same way); ``--acl-public`` fails instead of reporting a public object."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"data")
    config = s3cmd_config(server, tmp_path / "s3cfg")
    env = aws_env(server, tmp_path)
    target = f"s3://{bucket}/k"
    out = s3cmd(server, env, config, "setacl", "--acl-grant=full_control:pys3local", target)
    assert "ACL updated" in out.output
    s3cmd(server, env, config, "cp", target, f"s3://{bucket}/copy")
    assert s3.get_object(Bucket=bucket, Key="copy")["Body"].read() == b"data"
    result = s3cmd(server, env, config, "setacl", "--acl-public", target, check=False)
    assert result.returncode != 0
    assert "AccessControlListNotSupported" in result.output
    assert _only_owner(s3.get_object_acl(Bucket=bucket, Key="k"))
