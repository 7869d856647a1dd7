UPDATE [record_type] WITH (UPDLOCK, SERIALIZABLE) SET [name] = @p1 WHERE [record_type] = @p2; IF @@ROWCOUNT = 0 INSERT INTO [record_type] ([record_type], [name]) VALUES (@p3, @p4);
