DROP TABLE IF EXISTS [#o365_stage_record], [#o365_stage_property], [#o365_stage_quarantine];
