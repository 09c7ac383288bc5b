"""Uploading to the content repository (spec "Content repository", "Sending encrypted
attachments")."""

from __future__ import annotations

from typing import Any

from tuimatrix.core.operations.server_state import ServerState


class Media(ServerState):
    async def upload(self, data: bytes, mimetype: str, filename: str) -> str:
        """Upload to the content repository (``POST /media/v3/upload``); returns the mxc URI."""
        uri = await self.client.upload_media(data, mime_type=mimetype, filename=filename)
        return str(uri)

    async def upload_attachment(
        self, room_id: str, data: bytes, mimetype: str, filename: str
    ) -> dict[str, Any]:
        """Upload a file for a message in ``room_id``: ``{"url": mxc}``, or in an encrypted
        room ``{"file": EncryptedFile}`` (spec "Sending encrypted attachments"): the media
        server only ever sees ciphertext there."""
        if await self.get_state(room_id, "m.room.encryption") is None:
            return {"url": await self.upload(data, mimetype, filename)}
        from mautrix.crypto.attachments import encrypt_attachment

        ciphertext, file = encrypt_attachment(data)
        # The server learns neither the type nor the name of an encrypted file.
        uri = await self.upload(ciphertext, "application/octet-stream", "")
        return {"file": {**file.serialize(), "url": uri}}
