SET NOCOUNT ON;
INSERT INTO [quarantine] ([qkey], [tenant_id], [content_type], [content_id], [ordinal], [record_id], [reason], [raw], [quarantined_at])
SELECT s.[qkey], s.[tenant_id], s.[content_type], s.[content_id], s.[ordinal], s.[record_id], s.[reason], s.[raw], s.[quarantined_at]
FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY [qkey] ORDER BY [o365_ord]) AS [rn] FROM [#o365_stage_quarantine]) AS s
WHERE s.[rn] = 1 AND NOT EXISTS (SELECT 1 FROM [quarantine] AS t WITH (UPDLOCK, HOLDLOCK) WHERE t.[qkey] = s.[qkey]);
SELECT @@ROWCOUNT;
