-- A message row is updated in place three or four times after it is written (claimed,
-- sent, delivered), and none of those updates touches an indexed column but the sid.
-- With full pages (the default fillfactor of 100) every one of them is a new tuple on
-- another page plus an entry in each of the table's eight indexes; with room left in
-- the page Postgres updates the row on the same page and leaves the indexes alone (a
-- HOT update). The room is reserved in pages written from now on.
ALTER TABLE messages SET (fillfactor = 70);
