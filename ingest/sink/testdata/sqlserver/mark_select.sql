SELECT [status], [attempts] FROM [content_blob] WITH (UPDLOCK, HOLDLOCK) WHERE [tenant_id] = @p1 AND [content_id] = @p2
