DROP TABLE IF EXISTS [#o365_stage_property];
SELECT TOP 0 CAST(0 AS BIGINT) AS [o365_ord], [record_id], [list], [ordinal], [name], [value], [old_value] INTO [#o365_stage_property] FROM [audit_property];
