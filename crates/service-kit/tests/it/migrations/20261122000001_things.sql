CREATE TABLE kit_things (id bigserial PRIMARY KEY);
