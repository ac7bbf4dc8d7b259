package config

import (
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
)

// TokenCredential returns the identity for an account reached without a
// connection string: the user-assigned managed identity named by
// <Connection>__clientId, else DefaultAzureCredential (system-assigned
// identity in Azure, the developer's login locally).
func (s Storage) TokenCredential() (azcore.TokenCredential, error) {
	if s.ClientID != "" {
		cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ID: azidentity.ClientID(s.ClientID)})
		if err != nil {
			return nil, fmt.Errorf("config: %s managed identity: %w", s.Name, err)
		}
		return cred, nil
	}
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return nil, fmt.Errorf("config: %s default credential: %w", s.Name, err)
	}
	return cred, nil
}

// BlobClient builds the account's blob service client.
func (s Storage) BlobClient() (*azblob.Client, error) {
	if !s.UsesIdentity() {
		c, err := azblob.NewClientFromConnectionString(s.ConnectionString.Reveal(), nil)
		if err != nil {
			return nil, fmt.Errorf("config: %s: blob client from connection string: %w", s.Name, redactErr(err))
		}
		return c, nil
	}
	if s.BlobServiceURI == "" {
		return nil, fmt.Errorf("%w %s__blobServiceUri: required without a connection string", ErrInvalid, s.Name)
	}
	cred, err := s.TokenCredential()
	if err != nil {
		return nil, err
	}
	c, err := azblob.NewClient(s.BlobServiceURI, cred, nil)
	if err != nil {
		return nil, fmt.Errorf("config: %s: blob client: %w", s.Name, err)
	}
	return c, nil
}

// TableClient builds a client for one table of the account.
func (s Storage) TableClient(table string) (*aztables.Client, error) {
	svc, err := s.TableServiceClient()
	if err != nil {
		return nil, err
	}
	return svc.NewClient(table), nil
}

// TableServiceClient builds the account's table service client.
func (s Storage) TableServiceClient() (*aztables.ServiceClient, error) {
	if !s.UsesIdentity() {
		c, err := aztables.NewServiceClientFromConnectionString(s.ConnectionString.Reveal(), nil)
		if err != nil {
			return nil, fmt.Errorf("config: %s: table client from connection string: %w", s.Name, redactErr(err))
		}
		return c, nil
	}
	if s.TableServiceURI == "" {
		return nil, fmt.Errorf("%w %s__tableServiceUri: required without a connection string", ErrInvalid, s.Name)
	}
	cred, err := s.TokenCredential()
	if err != nil {
		return nil, err
	}
	c, err := aztables.NewServiceClient(s.TableServiceURI, cred, nil)
	if err != nil {
		return nil, fmt.Errorf("config: %s: table client: %w", s.Name, err)
	}
	return c, nil
}

// QueueServiceClient builds the account's queue service client.
func (s Storage) QueueServiceClient() (*azqueue.ServiceClient, error) {
	if !s.UsesIdentity() {
		c, err := azqueue.NewServiceClientFromConnectionString(s.ConnectionString.Reveal(), nil)
		if err != nil {
			return nil, fmt.Errorf("config: %s: queue client from connection string: %w", s.Name, redactErr(err))
		}
		return c, nil
	}
	if s.QueueServiceURI == "" {
		return nil, fmt.Errorf("%w %s__queueServiceUri: required without a connection string", ErrInvalid, s.Name)
	}
	cred, err := s.TokenCredential()
	if err != nil {
		return nil, err
	}
	c, err := azqueue.NewServiceClient(s.QueueServiceURI, cred, nil)
	if err != nil {
		return nil, fmt.Errorf("config: %s: queue client: %w", s.Name, err)
	}
	return c, nil
}

// redactErr drops SDK error texts that may quote the connection string.
func redactErr(err error) error {
	return fmt.Errorf("malformed connection string (%T)", err)
}
