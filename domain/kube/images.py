"""Container image references: `registry:5000/team/app:1.2@sha256:…` in its parts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ImageRef:
    # everything before the tag: `registry:5000/team/app`
    repository: str
    # empty when the reference names no tag
    tag: str
    # `sha256:…`, empty when the reference names no digest
    digest: str

    @property
    def registry(self) -> str:
        """The registry host the image is pulled from (`docker.io` when the name has none)."""
        first, slash, _ = self.repository.partition("/")
        if slash and ("." in first or ":" in first or first == "localhost"):
            return first
        return "docker.io"


def split_image(image: str) -> ImageRef:
    name, _, digest = image.partition("@")
    slash, colon = name.rfind("/"), name.rfind(":")
    if colon > slash:
        return ImageRef(name[:colon], name[colon + 1 :], digest)
    return ImageRef(name, "", digest)
