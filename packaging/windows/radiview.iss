; Inno Setup 6 script for RadiView on Windows: a per-user install (no administrator rights)
; of the PyInstaller onedir bundle that packaging/radiview.spec writes to dist\radiview.
;
;   pyinstaller --noconfirm --distpath dist --workpath build packaging\radiview.spec
;   iscc /DAppVersion=0.1.0 packaging\windows\radiview.iss      -> dist\radiview-0.1.0-setup.exe
;
; dist\radiview holds radiview.exe (windowed GUI) and radiview-cli.exe (console twin for
; --self-test and `screen`, which a windowed exe cannot print from), sharing _internal\.
; PyPI's torch wheels for Windows are CPU-only, so this bundle is about 1 GB, not the 4 GB of the
; Linux CUDA build; if a CUDA torch is installed instead and setup.exe would pass 4 GB, set
; DiskSpanning=yes.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#define AppName "RadiView"
#define AppExe "radiview.exe"
#define CliExe "radiview-cli.exe"
#define ProgId "RadiView.DICOM"
#define SourceDir "..\..\dist\radiview"

[Setup]
AppId={{5E0B7C3A-2D4F-4B8E-9C61-7A3F0D2E8B14}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=RadiView developers
AppComments=Research software, not a medical device. Not for diagnosis or clinical decisions.
; Per-user install: {autopf} resolves to %LOCALAPPDATA%\Programs and registry writes go to HKCU.
PrivilegesRequired=lowest
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
ChangesAssociations=yes
SetupIconFile=..\..\resources\icons\radiview.ico
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName} {#AppVersion}
OutputDir=..\..\dist
OutputBaseFilename=radiview-{#AppVersion}-setup
; torch's DLLs barely shrink further with ultra settings; fast LZMA2 keeps the build short.
Compression=lzma2/fast
SolidCompression=no
WizardStyle=modern

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"
Name: "dcmassoc"; Description: "Open DICOM files (.dcm) with {#AppName}"; GroupDescription: "File associations:"

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\{#AppExe}"
Name: "{group}\{#AppName} self-test"; Filename: "{cmd}"; Parameters: "/k ""{app}\{#CliExe}"" --self-test"; IconFilename: "{app}\{#AppExe}"
Name: "{group}\{cm:UninstallProgram,{#AppName}}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Registry]
; .dcm -> RadiView.DICOM, per user (HKCU\Software\Classes); removed again on uninstall.
Root: HKCU; Subkey: "Software\Classes\.dcm"; ValueType: string; ValueName: ""; ValueData: "{#ProgId}"; Flags: uninsdeletevalue; Tasks: dcmassoc
Root: HKCU; Subkey: "Software\Classes\.dcm"; ValueType: string; ValueName: "Content Type"; ValueData: "application/dicom"; Flags: uninsdeletevalue; Tasks: dcmassoc
Root: HKCU; Subkey: "Software\Classes\.dcm\OpenWithProgids"; ValueType: string; ValueName: "{#ProgId}"; ValueData: ""; Flags: uninsdeletevalue; Tasks: dcmassoc
Root: HKCU; Subkey: "Software\Classes\{#ProgId}"; ValueType: string; ValueName: ""; ValueData: "DICOM image"; Flags: uninsdeletekey; Tasks: dcmassoc
Root: HKCU; Subkey: "Software\Classes\{#ProgId}\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: "{app}\{#AppExe},0"; Tasks: dcmassoc
Root: HKCU; Subkey: "Software\Classes\{#ProgId}\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\{#AppExe}"" ""%1"""; Tasks: dcmassoc
; "Open with" entries for DICOM and PNG; PNG keeps its default viewer.
Root: HKCU; Subkey: "Software\Classes\Applications\{#AppExe}\SupportedTypes"; ValueType: string; ValueName: ".dcm"; ValueData: ""; Flags: uninsdeletekey
Root: HKCU; Subkey: "Software\Classes\Applications\{#AppExe}\SupportedTypes"; ValueType: string; ValueName: ".png"; ValueData: ""
Root: HKCU; Subkey: "Software\Classes\Applications\{#AppExe}\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\{#AppExe}"" ""%1"""

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[UninstallDelete]
Type: filesandordirs; Name: "{app}\_internal"
