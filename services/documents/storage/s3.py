"""Files in S3 through the minio SDK (MinIO, SeaweedFS, Ceph RGW ...).

- The bucket is created on first use and put under versioning when the server supports it.
- Uploads stream from the spool (multipart above 16 MiB); the SHA-256 goes in the object's
  metadata. A single-part put is signed with the SHA-256 computed while the file was received
  (`x-amz-content-sha256`, over HTTP and HTTPS alike): the server checks the body against it and
  refuses a put whose bytes differ (XAmzContentSHA256Mismatch), so a put that succeeds is verified
  without a second round trip, and the SDK does not hash the body again. A multipart put is
  verified by a stat of size and SHA-256 after it.
- A store that does not answer is UNAVAILABLE `storage_unavailable` after a short retry, so an
  upload fails fast and cleanly instead of hanging.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import IO, Any, BinaryIO, cast
from urllib.parse import quote

import urllib3
from minio import Minio
from minio.error import MinioException, S3Error
from minio.versioningconfig import ENABLED, VersioningConfig

from services.core.config import env
from services.core.errors import Unavailable

log = logging.getLogger("sotay.documents.s3")
PART_SIZE = 16 * 1024 * 1024
_DOWN = (urllib3.exceptions.HTTPError, OSError, MinioException)
PAYLOAD_SHA256 = "x-amz-content-sha256"
_MISMATCH = ("XAmzContentSHA256Mismatch", "BadDigest")


class _Minio(Minio):
    """The SDK, taking the body's SHA-256 from the caller when it already has one.

    minio 7.2 hashes every request body itself (SHA-256 over HTTP for the signature, MD5 over
    HTTPS for Content-MD5). A put given `x-amz-content-sha256` (through put_object's metadata,
    single-part puts only) is signed with that value instead; the server verifies the body
    against it, as it would against the SDK's own hash."""

    def _build_headers(self, host: str, headers: Any = None, body: Any = None, creds: Any = None) -> Any:
        given = (headers or {}).get(PAYLOAD_SHA256)
        if not given or not body:
            return super()._build_headers(host, headers, body, creds)
        headers, date = super()._build_headers(host, headers, None, creds)  # no hashing of the body
        headers["Content-Length"] = str(len(body))
        headers[PAYLOAD_SHA256] = given
        return headers, date


def _http(timeout: float, retries: int) -> urllib3.PoolManager:
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=min(timeout, 3.0), read=timeout),
        maxsize=32,
        retries=urllib3.Retry(total=retries, backoff_factor=0.1, status_forcelist=[500, 502, 503, 504]),
    )


class S3BlobStore:
    kind = "s3"

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        secure: bool = False,
        region: str = "us-east-1",
        public_endpoint: str = "",
        timeout: float = 30.0,
    ) -> None:
        self.bucket = bucket
        self.client = _Minio(
            endpoint, access_key, secret_key, secure=secure, region=region, http_client=_http(timeout, 2)
        )
        # Presigning is computed locally; the public endpoint is what browsers reach.
        self.signer = Minio(public_endpoint or endpoint, access_key, secret_key, secure=secure, region=region)
        self._ready = False

    @classmethod
    def from_env(cls) -> S3BlobStore:
        return cls(
            env("S3_ENDPOINT"),
            env("S3_ACCESS_KEY"),
            env("S3_SECRET_KEY"),
            env("S3_BUCKET", "sotay-documents"),
            secure=env("S3_SECURE", "false").lower() == "true",
            region=env("S3_REGION", "us-east-1"),
            public_endpoint=env("S3_PUBLIC_ENDPOINT"),
            timeout=float(env("S3_TIMEOUT", "30")),
        )

    def _unavailable(self, exc: Exception, what: str) -> Unavailable:
        log.warning("s3 %s failed: %s", what, exc)
        return Unavailable("storage_unavailable", f"the file store (S3) is not reachable: {what} failed", store="s3")

    def ensure(self) -> None:
        if self._ready:
            return
        try:
            if not self.client.bucket_exists(self.bucket):
                try:
                    self.client.make_bucket(self.bucket)
                except S3Error as exc:
                    if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise
            try:
                self.client.set_bucket_versioning(self.bucket, VersioningConfig(ENABLED))
            except S3Error as exc:  # not every S3 server has versioning; keys are unique anyway
                log.info("bucket versioning not enabled: %s", exc.code)
        except _DOWN as exc:
            raise self._unavailable(exc, "bucket check") from exc
        self._ready = True

    def put(self, key: str, spool: IO[bytes], size: int, sha256: str, content_type: str) -> None:
        """One PUT. A single-part put is signed with `sha256` (the file's hash, computed while it
        was received) as its payload hash: the server stores it only if the body matches, so the
        object is verified without another round trip. Only a multipart upload (above
        PART_SIZE) costs a stat."""
        self.ensure()
        single = size <= PART_SIZE
        headers = {"sha256": sha256, PAYLOAD_SHA256: sha256} if single else {"sha256": sha256}
        try:
            self.client.put_object(
                self.bucket,
                key,
                cast(BinaryIO, spool),
                length=size,
                content_type=content_type.split(";")[0],
                metadata=cast(Any, headers),
                part_size=PART_SIZE,
            )
            if single:
                return
            stat = self.client.stat_object(self.bucket, key)
        except S3Error as exc:
            if exc.code in _MISMATCH:
                log.warning("s3 refused %s: the body does not match its SHA-256", key)
                raise Unavailable("storage_checksum", "the stored file does not match what was received") from exc
            raise self._unavailable(exc, "upload") from exc
        except _DOWN as exc:
            raise self._unavailable(exc, "upload") from exc
        stored = {k.lower(): v for k, v in (stat.metadata or {}).items()}
        if stat.size != size or stored.get("x-amz-meta-sha256", sha256) != sha256:
            self.delete(key)
            raise Unavailable("storage_checksum", "the stored file does not match what was received")

    def chunks(self, key: str, chunk_size: int = 256 * 1024) -> Iterator[bytes]:
        response: Any = None
        try:
            response = self.client.get_object(self.bucket, key)
            yield from response.stream(chunk_size)
        except _DOWN as exc:
            raise self._unavailable(exc, "download") from exc
        finally:
            if response is not None:
                response.close()
                response.release_conn()

    def to_path(self, key: str, path: Path) -> None:
        with path.open("wb") as out:
            for block in self.chunks(key):
                out.write(block)

    def delete(self, key: str) -> None:
        try:
            self.client.remove_object(self.bucket, key)
        except _DOWN as exc:
            log.warning("s3 delete of %s failed: %s", key, exc)

    def exists(self, key: str) -> bool:
        try:
            self.client.stat_object(self.bucket, key)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject", "NotFound"):
                return False
            raise self._unavailable(exc, "stat") from exc
        except _DOWN as exc:
            raise self._unavailable(exc, "stat") from exc
        return True

    def presigned_url(self, key: str, filename: str, content_type: str, ttl_seconds: int) -> str:
        return self.signer.presigned_get_object(
            self.bucket,
            key,
            expires=timedelta(seconds=ttl_seconds),
            response_headers={
                "response-content-disposition": f"attachment; filename*=UTF-8''{quote(filename)}",
                "response-content-type": content_type,
            },
        )
