package app

import "github.com/Azure/azure-sdk-for-go/sdk/azcore"

func etag(s string) azcore.ETag { return azcore.ETag(s) }
