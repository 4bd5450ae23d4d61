"""The resource types `unmanaged` can list in the cloud (no imports: the manifest's
checks read it too)."""

from __future__ import annotations

SCANNED_TYPES = ("aws_s3_bucket", "aws_sqs_queue", "aws_ssm_parameter")
"""Types with a lister (unmanaged/aws.py): other managed types are named in a notice."""
