//! The body of one audit event, shaped like the real records of each
//! workload (Entra ID sign-ins and directory changes, Exchange mailbox
//! access, SharePoint/OneDrive file operations, Teams/Power BI, DLP matches).

use serde_json::{Map, Value, json};

use super::ContentType;
use super::audit::{EventHead, OVERSIZED_BYTES};
use super::people::{client_ip, external_address, upn};
use crate::config::TenantSpec;
use crate::rng::Rng;

/// Event `j` generated for blob `index` of `content_type`.
pub(crate) fn event(
    spec: &TenantSpec,
    content_type: ContentType,
    index: i64,
    j: u32,
    head: &EventHead,
) -> Value {
    let mut rng = Rng::new(&[
        spec.seed,
        content_type.code(),
        index as u64,
        u64::from(j),
        1,
    ]);
    let user = upn(&mut rng, &spec.domain);
    let mut e = Map::new();
    e.insert(
        "CreationTime".into(),
        head.creation_time
            .format("%Y-%m-%dT%H:%M:%S")
            .to_string()
            .into(),
    );
    e.insert("Id".into(), head.id.clone().into());
    e.insert("OrganizationId".into(), spec.id.clone().into());
    e.insert(
        "UserKey".into(),
        format!("1003{}", rng.hex_upper(12)).into(),
    );
    e.insert("UserType".into(), 0.into());
    e.insert("Version".into(), 1.into());
    e.insert("UserId".into(), user.clone().into());
    if let Some(ip) = client_ip(&mut rng) {
        e.insert("ClientIP".into(), ip.into());
    }
    let body = match content_type {
        ContentType::AzureActiveDirectory => entra(&mut rng, spec, &user),
        ContentType::Exchange => exchange(&mut rng, spec, &user),
        ContentType::SharePoint => sharepoint(&mut rng, spec, &user),
        ContentType::General => general(&mut rng, &user),
        ContentType::Dlp => dlp(&mut rng, spec, &user),
    };
    if let Value::Object(body) = body {
        e.extend(body);
    }
    if head.cloud_app_security {
        e.insert("Source".into(), "Cloud App Security".into());
    }
    if head.oversized {
        e.insert("SensitiveInfoDetectionResults".into(), detections(&mut rng));
    }
    Value::Object(e)
}

fn entra(rng: &mut Rng, spec: &TenantSpec, user: &str) -> Value {
    if rng.chance(650) {
        let failed = rng.chance(150);
        let op = if failed {
            "UserLoginFailed"
        } else {
            "UserLoggedIn"
        };
        json!({
            "RecordType": 15, "Workload": "AzureActiveDirectory", "Operation": op,
            "ResultStatus": if failed { "Failed" } else { "Success" },
            "ObjectId": "00000003-0000-0000-c000-000000000000", "AzureActiveDirectoryEventType": 1,
            "ApplicationId": *rng.pick(&["00000002-0000-0ff1-ce00-000000000000", "1fec8e78-bce4-4aaf-ab1b-5451cc387264", "d3590ed6-52b3-4102-aeff-aad2292ab01c"]),
            "ActorContextId": spec.id, "TargetContextId": spec.id, "InterSystemsId": rng.guid(), "IntraSystemId": rng.guid(),
            "Actor": [{"ID": rng.guid(), "Type": 0}, {"ID": user, "Type": 5}],
            "Target": [{"ID": "00000003-0000-0000-c000-000000000000", "Type": 0}],
            "ExtendedProperties": [
                {"Name": "ResultStatusDetail", "Value": if failed { "Redirect" } else { "Success" }},
                {"Name": "UserAgent", "Value": *rng.pick(&["Mozilla/5.0 (Windows NT 10.0; Win64; x64)", "Microsoft Office/16.0", "python-requests/2.31.0"])},
                {"Name": "RequestType", "Value": "OAuth2:Token"}
            ],
            "ModifiedProperties": [], "ErrorNumber": if failed { "50126" } else { "0" },
            "LogonError": if failed { "InvalidUserNameOrPassword" } else { "" },
        })
    } else {
        let op = *rng.pick(&[
            "Add member to group.",
            "Update user.",
            "Add user.",
            "Reset user password.",
            "Add service principal.",
            "Update application.",
        ]);
        let target = upn(rng, &spec.domain);
        json!({
            "RecordType": 8, "Workload": "AzureActiveDirectory", "Operation": op, "ResultStatus": "Success",
            "UserType": 2, "ObjectId": target, "AzureActiveDirectoryEventType": 1,
            "Actor": [{"ID": user, "Type": 5}], "Target": [{"ID": target, "Type": 5}, {"ID": rng.guid(), "Type": 2}],
            "ModifiedProperties": [{"Name": "Group.DisplayName", "NewValue": "Finance", "OldValue": ""}],
            "ExtendedProperties": [{"Name": "additionalDetails", "Value": "{}"}, {"Name": "extendedAuditEventCategory", "Value": "User"}],
        })
    }
}

fn exchange(rng: &mut Rng, spec: &TenantSpec, user: &str) -> Value {
    let server = format!(
        "AM6PR04MB{:04} (15.20.{}.{:03})",
        rng.below(10_000),
        7000 + rng.below(900),
        rng.below(1000)
    );
    let message_id = format!(
        "<{}@{}.prod.outlook.com>",
        rng.hex_upper(24),
        rng.hex_upper(8)
    );
    let common = json!({
        "Workload": "Exchange", "ResultStatus": "Succeeded", "ObjectId": "", "MailboxGuid": rng.guid(),
        "MailboxOwnerUPN": user, "OrganizationName": spec.domain, "OriginatingServer": server,
        "ExternalAccess": false, "LogonType": 0, "InternalLogonType": 0,
    });
    let specific = match rng.below(4) {
        0 | 1 => json!({
            "RecordType": 50, "Operation": "MailItemsAccessed", "ClientInfoString": "Client=REST;Client=RESTSystem;;",
            "OperationProperties": [{"Name": "MailAccessType", "Value": "Bind"}, {"Name": "IsThrottled", "Value": "False"}],
            "Folders": [{"Id": rng.hex_upper(48), "Path": "\\Inbox", "FolderItems": [{"InternetMessageId": message_id, "SizeInBytes": 2000 + rng.below(90_000)}]}],
        }),
        2 => json!({
            "RecordType": 2, "Operation": *rng.pick(&["Send", "Update", "SendAs"]), "ClientInfoString": "Client=OWA;Action=ViaProxy",
            "Item": {"Id": rng.hex_upper(48), "InternetMessageId": message_id, "Subject": "Quarterly review", "SizeInBytes": 5000 + rng.below(50_000), "ParentFolder": {"Id": rng.hex_upper(48), "Path": "\\Sent Items"}},
        }),
        _ => json!({
            "RecordType": 1, "Operation": *rng.pick(&["New-InboxRule", "Set-Mailbox", "Add-MailboxPermission"]), "UserType": 2,
            "ObjectId": user, "Parameters": [{"Name": "Identity", "Value": user}, {"Name": "ForwardTo", "Value": external_address(rng)}],
        }),
    };
    merge(common, specific)
}

fn sharepoint(rng: &mut Rng, spec: &TenantSpec, user: &str) -> Value {
    let tenant_host = spec.domain.split('.').next().unwrap_or("contoso");
    let onedrive = rng.chance(400);
    let site_url = if onedrive {
        format!(
            "https://{tenant_host}-my.sharepoint.com/personal/{}/",
            user.replace(['.', '@'], "_")
        )
    } else {
        format!(
            "https://{tenant_host}.sharepoint.com/sites/{}/",
            *rng.pick(&["Finance", "HR", "Engineering", "Marketing"])
        )
    };
    let ext = *rng.pick(&["docx", "xlsx", "pdf", "pptx", "txt"]);
    let file = format!(
        "{}-{}.{ext}",
        *rng.pick(&["Budget", "Plan", "Report", "Notes"]),
        rng.below(1000)
    );
    let folder = if onedrive {
        "Documents"
    } else {
        "Shared Documents"
    };
    let op = *rng.pick(&[
        "FileAccessed",
        "FileAccessed",
        "FileUploaded",
        "FileModified",
        "FileDownloaded",
        "FilePreviewed",
        "FileDeleted",
    ]);
    json!({
        "RecordType": 6, "Workload": if onedrive { "OneDrive" } else { "SharePoint" }, "Operation": op, "ResultStatus": "",
        "ObjectId": format!("{site_url}{folder}/{file}"), "Site": rng.guid(), "WebId": rng.guid(), "ListId": rng.guid(),
        "ListItemUniqueId": rng.guid(), "ItemType": "File", "EventSource": "SharePoint", "SiteUrl": site_url,
        "SourceRelativeUrl": folder, "SourceFileName": file, "SourceFileExtension": ext,
        "UserAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36", "CorrelationId": rng.guid(),
    })
}

fn general(rng: &mut Rng, user: &str) -> Value {
    if rng.chance(600) {
        let team = *rng.pick(&["Project Falcon", "Sales EMEA", "IT Ops"]);
        json!({
            "RecordType": 25, "Workload": "MicrosoftTeams", "Operation": *rng.pick(&["MemberAdded", "TeamCreated", "ChatCreated", "MessageSent"]),
            "ResultStatus": "Success", "ObjectId": team, "TeamName": team, "TeamGuid": format!("19:{}@thread.skype", rng.hex_upper(32)),
            "CommunicationType": "Team", "AADGroupId": rng.guid(), "Members": [{"DisplayName": user, "Role": 1, "UPN": user}],
        })
    } else {
        let report = *rng.pick(&["Revenue", "Pipeline", "Headcount"]);
        json!({
            "RecordType": 20, "Workload": "PowerBI", "Operation": *rng.pick(&["ViewReport", "ExportReport"]), "ResultStatus": "Success",
            "ObjectId": report, "Activity": "ViewReport", "ItemName": report, "ReportName": report, "WorkSpaceName": "Finance",
            "DatasetName": report, "RequestId": rng.guid(), "ActivityId": rng.guid(),
        })
    }
}

fn dlp(rng: &mut Rng, spec: &TenantSpec, user: &str) -> Value {
    let exchange = rng.chance(400);
    let count = 1 + rng.below(40);
    let rule = json!({
        "RuleId": rng.guid(), "RuleName": "Block credit card sharing", "RuleMode": "Enable", "Severity": *rng.pick(&["Low", "Medium", "High"]),
        "Actions": ["NotifyUser"], "ActionParameters": [], "ManagementRuleId": rng.guid(),
        "ConditionsMatched": {"ConditionMatchedInPolicy": true, "SensitiveInformation": [{
            "SensitiveType": "50842eb7-edc8-4019-85dd-5a5c1f2bb085", "SensitiveInformationTypeName": "Credit Card Number",
            "Confidence": 85, "Count": count, "UniqueCount": count, "ClassifierType": "Content"}]},
    });
    let common = json!({
        "Operation": *rng.pick(&["DlpRuleMatch", "DlpRuleMatch", "DlpRuleMatch", "DlpRuleUndo", "DlpInfo"]), "ResultStatus": "Success",
        "UserType": 4, "IncidentId": rng.guid(), "SensitiveInfoDetectionIsIncluded": false,
        "PolicyDetails": [{"PolicyId": rng.guid(), "PolicyName": "PCI DSS", "Rules": [rule]}],
    });
    let specific = if exchange {
        let to = external_address(rng);
        json!({
            "RecordType": 13, "Workload": "Exchange", "ObjectId": format!("<{}@{}>", rng.hex_upper(20), spec.domain),
            "ExchangeMetaData": {"From": user, "To": [to], "CC": [], "BCC": [], "Subject": "Payment details", "FileSize": 1000 + rng.below(90_000),
                "MessageID": format!("<{}@{}>", rng.hex_upper(20), spec.domain), "RecipientCount": 1, "Sent": "", "UniqueID": rng.guid()},
        })
    } else {
        let host = spec.domain.split('.').next().unwrap_or("contoso");
        let file = format!("cards-{}.xlsx", rng.below(1000));
        let url = format!("https://{host}.sharepoint.com/sites/Finance/Shared Documents/{file}");
        json!({
            "RecordType": 11, "Workload": "SharePoint", "ObjectId": url,
            "SharePointMetaData": {"From": user, "FileName": file, "FilePathUrl": url, "SiteCollectionGuid": rng.guid(),
                "SiteCollectionUrl": format!("https://{host}.sharepoint.com/sites/Finance"), "UniqueId": rng.guid(), "IsViewableByExternalUsers": false},
        })
    };
    merge(common, specific)
}

/// A detection list long enough to push the event past 1 MB.
fn detections(rng: &mut Rng) -> Value {
    let mut items = Vec::new();
    let mut size = 0;
    while size <= OVERSIZED_BYTES + 1024 {
        let item = json!({
            "SensitiveType": "50842eb7-edc8-4019-85dd-5a5c1f2bb085",
            "Value": format!("4111-{:04}-{:04}-{:04}", rng.below(10_000), rng.below(10_000), rng.below(10_000)),
            "Context": "Customer payment card on file, billing address and expiry follow in the next column of the sheet",
            "Location": format!("Offset:{}", rng.below(10_000_000)),
        });
        size += 200;
        items.push(item);
    }
    Value::Array(items)
}

fn merge(a: Value, b: Value) -> Value {
    match (a, b) {
        (Value::Object(mut a), Value::Object(b)) => {
            a.extend(b);
            Value::Object(a)
        }
        (a, _) => a,
    }
}
