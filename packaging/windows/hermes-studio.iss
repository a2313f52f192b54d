; Inno Setup script for Hermes Studio (Windows installer with Start-menu entry, uninstaller, .gguf association).
; Build:  iscc /DAppVersion=0.1.0 packaging\windows\hermes-studio.iss   (after PyInstaller made dist\hermes-studio)
#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif

[Setup]
AppId={{6C0F2D7E-5B0C-4C7B-9A3E-0C2B8F0E4D11}
AppName=Hermes Studio
AppVersion={#AppVersion}
AppPublisher=Hermes Studio developers
DefaultDirName={autopf}\Hermes Studio
DefaultGroupName=Hermes Studio
OutputDir=..\..\dist
OutputBaseFilename=HermesStudio-{#AppVersion}-windows-x64-setup
SetupIconFile=hermes-studio.ico
UninstallDisplayIcon={app}\hermes-studio.exe
Compression=lzma2/max
SolidCompression=yes
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
PrivilegesRequiredOverridesAllowed=dialog
ChangesAssociations=yes
WizardStyle=modern

[Files]
Source: "..\..\dist\hermes-studio\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\Hermes Studio"; Filename: "{app}\hermes-studio.exe"
Name: "{group}\Uninstall Hermes Studio"; Filename: "{uninstallexe}"
Name: "{autodesktop}\Hermes Studio"; Filename: "{app}\hermes-studio.exe"; Tasks: desktopicon

[Tasks]
Name: "desktopicon"; Description: "Create a desktop shortcut"; Flags: unchecked

[Registry]
; "Open with Hermes Studio" for .gguf files: the app opens (and loads) the model.
Root: HKA; Subkey: "Software\Classes\.gguf\OpenWithProgids"; ValueType: string; ValueName: "HermesStudio.gguf"; ValueData: ""; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\HermesStudio.gguf"; ValueType: string; ValueName: ""; ValueData: "GGUF language model"; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\HermesStudio.gguf\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: "{app}\hermes-studio.exe,0"
Root: HKA; Subkey: "Software\Classes\HermesStudio.gguf\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\hermes-studio.exe"" --model ""%1"""

[Run]
Filename: "{app}\hermes-studio.exe"; Description: "Launch Hermes Studio"; Flags: nowait postinstall skipifsilent

; Models and chats live in %LOCALAPPDATA%\hermes-studio, never under {app}: uninstalling or upgrading leaves them alone.
