-- Every change to a tenant's positions is announced on channel `positions` with the tenant's
-- id, once per transaction (PostgreSQL folds identical notifications), when it commits; a
-- truncation announces '*'. Readers that keep positions in memory listen instead of asking.
CREATE FUNCTION announce_position_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('positions', '*');
    ELSE
        PERFORM pg_notify('positions', COALESCE(NEW.tenant_id, OLD.tenant_id)::text);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER positions_announce AFTER INSERT OR UPDATE OR DELETE ON positions
    FOR EACH ROW EXECUTE FUNCTION announce_position_change();
CREATE TRIGGER positions_announce_truncate AFTER TRUNCATE ON positions
    FOR EACH STATEMENT EXECUTE FUNCTION announce_position_change();
