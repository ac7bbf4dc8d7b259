package audit_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/xelwatch/xelwatch/xel/audit"
)

func TestParseAdditionalInformation(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want audit.AdditionalInfo
	}{
		{"empty", "", audit.AdditionalInfo{}},
		{"not xml", "plain text", audit.AdditionalInfo{}},
		{"failed login",
			`<action_info xmlns="http://schemas.microsoft.com/sqlserver/2008/sqlaudit_data"><pooled_connection>0</pooled_connection><error_code>18456</error_code><error_state>8</error_state><address>203.0.113.9</address></action_info>`,
			audit.AdditionalInfo{ErrorCode: 18456, ErrorState: 8, HasError: true, Address: "203.0.113.9"}},
		{"failure reason",
			`<action_info><failure_reason><![CDATA[Err 18456, Level 14, State 5, Could not find a login matching the name provided.]]></failure_reason></action_info>`,
			audit.AdditionalInfo{FailureReason: "Err 18456, Level 14, State 5, Could not find a login matching the name provided."}},
		{"tsql stack",
			`<tsql_stack><frame nest_level = '1' plan_handle = '0x06' database_name = 'SalesDb' schema_name = 'dbo' object_name = 'usp_Backup'/><frame nest_level = '2' database_name = 'master' schema_name = 'sys' object_name = 'sp_executesql'/></tsql_stack>`,
			audit.AdditionalInfo{Frames: []audit.StackFrame{{1, "SalesDb", "dbo", "usp_Backup"}, {2, "master", "sys", "sp_executesql"}}}},
		{"truncated at 4000 characters",
			`<action_info><error_code>18456</error_code><error_state>2</error_state><addr`,
			audit.AdditionalInfo{ErrorCode: 18456, ErrorState: 2, HasError: true}},
		{"garbage after fragment", `<error_code>x</error_code><<<>>>`, audit.AdditionalInfo{HasError: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := audit.ParseAdditionalInformation(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseAdditionalInformationBounded(t *testing.T) {
	in := "<tsql_stack>" + strings.Repeat("<frame nest_level='1' object_name='x'/>", 1000) + "</tsql_stack>"
	if got := audit.ParseAdditionalInformation(in); len(got.Frames) != 64 {
		t.Errorf("kept %d frames, want the cap of 64", len(got.Frames))
	}
}
