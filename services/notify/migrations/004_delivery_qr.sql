-- What a QR code in the mail encodes (a program registration's check-in code, scanned at the
-- kiosk); null for every other mail.
ALTER TABLE deliveries ADD COLUMN qr_text text;
