-- A claimed room as an enum, not text: the exclusion constraint compares the room of every
-- claim with those of the rooms' index entries it meets, and an enum compares as a number
-- where text compares by collation. Measured on 1,000 claims into 20,000: 54 ms as text,
-- 29 ms as an enum (PostgreSQL 15). A room the rules come to name is added here
-- (ALTER TYPE room ADD VALUE), and a test checks that the two agree.
CREATE TYPE room AS ENUM ('a', 'b', 'atrium');
ALTER TABLE reservation_rooms ALTER COLUMN room TYPE room USING room::room;
