import AzureCore
