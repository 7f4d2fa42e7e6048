# No MetaData
