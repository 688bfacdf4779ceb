-- Each end-to-end device's inbox of to-device messages (Olm ciphertext and key requests for that one device),
-- kept until the device acknowledges them. `payload` is encrypted JSON (sender, sender's device, type, content):
-- the row shows only which device it waits for and since when. Message ids count up per device from
-- e2e_devices.inbox_seq, reserved with the device's row locked, so they never repeat even once the inbox is empty.

ALTER TABLE e2e_devices ADD COLUMN inbox_seq BIGINT NOT NULL DEFAULT 0;

CREATE TABLE e2e_inbox (
    device_id TEXT NOT NULL REFERENCES e2e_devices (id) ON DELETE CASCADE,
    id BIGINT NOT NULL,
    payload BYTEA NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (device_id, id)
);
