import Testing
import JSONKit
@testable import Templates

/// Docker's documented --format and inspect -f examples, executed over the JSON they see.
@Suite struct TemplateTests {
    static let container = try! JSON.parse(Array("""
    {"Id":"4fa6e0f0c678","Name":"/web","State":{"Status":"running","Running":true,"Pid":4242,"ExitCode":0,"Health":null},
     "Config":{"Env":["PATH=/usr/bin","TERM=xterm"],"Labels":{"com.example.tier":"front","app":"web"},"Cmd":["nginx","-g"]},
     "NetworkSettings":{"Networks":{"bridge":{"IPAddress":"10.88.0.2","MacAddress":"02:42:0a"}},
                        "Ports":{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"}]}},
     "RestartCount":3,"Size":1234567890123}
    """.utf8))

    func render(_ text: String, _ data: JSONValue = container, missing: GoTemplate.MissingField = .noValue) throws -> String {
        try GoTemplate(text, missingField: missing).execute(data)
    }

    @Test func fieldsNestedAndNumbersAsWritten() throws {
        #expect(try render("{{.State.Pid}}") == "4242")
        #expect(try render("{{.Name}} {{.State.Status}}") == "/web running")
        #expect(try render("{{.Size}}") == "1234567890123")
        #expect(try render("{{.State.Running}}") == "true")
        #expect(try render("{{.State.Health}}") == "<nil>")
        #expect(try render("{{.Nope}}") == "<no value>")
        #expect(try render("{{.Config.Env}}") == "[PATH=/usr/bin TERM=xterm]")
        #expect(try render("{{.Config.Labels}}") == "map[app:web com.example.tier:front]")
    }

    @Test func jsonOfValuesAndOfDot() throws {
        #expect(try render("{{json .Config.Env}}") == #"["PATH=/usr/bin","TERM=xterm"]"#)
        #expect(try render("{{json .State.Pid}}") == "4242")
        #expect(try render("{{json .Name}}") == #""/web""#)
        #expect(try render("{{json .}}", .object([("a", .string("x"))])) == #"{"a":"x"}"#)
    }

    @Test func rangeIndexAndVariables() throws {
        // Docker's documented examples.
        #expect(try render("{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}") == "10.88.0.2")
        #expect(try render(#"{{index .Config.Labels "com.example.tier"}}"#) == "front")
        #expect(try render(#"{{(index (index .NetworkSettings.Ports "80/tcp") 0).HostPort}}"#) == "8080")
        #expect(try render("{{range $p, $conf := .NetworkSettings.Ports}} {{$p}} -> {{(index $conf 0).HostPort}} {{end}}") == " 80/tcp -> 8080 ")
        #expect(try render("{{range $i, $e := .Config.Env}}{{$i}}={{$e}};{{end}}") == "0=PATH=/usr/bin;1=TERM=xterm;")
        #expect(try render("{{$n := .Name}}{{with .State}}{{$n}}:{{.Pid}}{{end}}") == "/web:4242")
        #expect(try render("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}") == "2")
        #expect(try render("{{range .Config.Cmd}}[{{.}}]{{else}}none{{end}}") == "[nginx][-g]")
        #expect(try render("{{range .Missing}}x{{else}}none{{end}}") == "none")
        #expect(try render("{{range $.Config.Cmd}}{{$.Name}}{{end}}") == "/web/web")
    }

    @Test func conditionalsAndComparisons() throws {
        #expect(try render(#"{{if eq .State.Status "running"}}up{{else}}down{{end}}"#) == "up")
        #expect(try render(#"{{if eq .State.Status "exited" "running"}}one of{{end}}"#) == "one of")
        #expect(try render(#"{{if ne .RestartCount 3}}a{{else if gt .RestartCount 2}}b{{else}}c{{end}}"#) == "b")
        #expect(try render("{{if and .State.Running (not .State.Health)}}ok{{end}}") == "ok")
        #expect(try render("{{or .Nope .Name}}") == "/web")
        #expect(try render("{{with .State.Health}}{{.Status}}{{else}}no check{{end}}") == "no check")
        #expect(try render("{{len .Config.Env}} {{len .Name}}") == "2 4")
        #expect(try render("{{if lt 1 2}}y{{end}}") == "y")
    }

    @Test func dockerStringFunctionsAndPipelines() throws {
        #expect(try render("{{.State.Status | upper}}") == "RUNNING")
        #expect(try render("{{upper .Name | lower}}") == "/web")
        #expect(try render(#"{{title "hello wide world"}}"#) == "Hello Wide World")
        #expect(try render(#"{{join .Config.Cmd " "}}"#) == "nginx -g")
        // A nil slice (Docker's Aliases of a container without any) joins to nothing, as in Go.
        #expect(try render(#"[{{join .Aliases ","}}]"#, .object([("Aliases", .null)])) == "[]")
        #expect(try render(#"{{split "a,b,c" ","}}"#) == "[a b c]")
        #expect(try render(#"{{index (split "k=v" "=") 1}}"#) == "v")
        #expect(try render(#"{{printf "%s has pid %d" .Name .State.Pid}}"#) == "/web has pid 4242")
        #expect(try render(#"{{printf "%-6s|%5d|%05d|%q|%.2f|%x|%%" "ab" 42 42 "x" 3.14159 255}}"#) == #"ab    |   42|00042|"x"|3.14|ff|%"#)
        #expect(try render(#"{{printf "%s"}}"#) == "%!s(MISSING)")
        #expect(try render("{{.Name | printf \"%s!\"}}") == "/web!")
        #expect(try render(#"{{pad "x" 1 2}}|{{truncate "abcdef" 3}}"#) == " x  |abc")
        #expect(try render("{{slice .Name 1 3}}") == "we")
        #expect(try render("{{print 1 2 \"a\" 3}}") == "1 2a3")
    }

    @Test func trimMarkersAndComments() throws {
        #expect(try render("a  {{- .Name -}}  \n b") == "a/webb")
        #expect(try render("a{{/* note */}}b") == "ab")
        #expect(try render("{{- /* x */ -}} c") == "c")
        #expect(try render("{{-3}}", .null) == "-3")
        #expect(try render("{{if\n  .Name}}multi-line{{end}}") == "multi-line")
    }

    @Test func strictFieldsForListRows() throws {
        let row = JSONValue.object([("Names", .string("web"))])
        #expect(try render("{{.Names}}", row, missing: .error(typeName: "*formatter.ContainerContext")) == "web")
        #expect(throws: TemplateError.self) { try render("{{.Nmes}}", row, missing: .error(typeName: "*formatter.ContainerContext")) }
        do {
            _ = try render("{{.Nmes}}", row, missing: .error(typeName: "*formatter.ContainerContext"))
        } catch {
            #expect("\(error)" == "template: :1:1: executing at <.Nmes>: can't evaluate field Nmes in type *formatter.ContainerContext")
        }
    }

    @Test(arguments: [
        ("{{.Name", "template: :1:1: unclosed action"),
        ("x {{if .A}}y", "template: :1:3: unexpected EOF: {{if}} has no {{end}}"),
        ("{{end}}", "template: :1:1: unexpected {{end}}"),
        ("{{nosuch .A}}", "template: :1:1: function \"nosuch\" not defined"),
        ("a\n {{.A | }}", "template: :2:2: missing value for command"),
        ("{{\"abc}}", "template: :1:1: unterminated quoted string"),
        ("{{(.A}}", "template: :1:1: unclosed left paren"),
        ("{{}}", "template: :1:1: missing value for command"),
    ])
    func parseErrorsNameLineAndColumn(text: String, message: String) {
        do {
            _ = try GoTemplate(text)
            Issue.record("\(text) parsed")
        } catch {
            #expect("\(error)" == message)
        }
    }

    @Test func executionErrorsNameTheAction() {
        #expect(throws: TemplateError.self) { try render("{{.Name.Sub}}") }
        #expect(throws: TemplateError.self) { try render("{{.Name 1}}") }
        #expect(throws: TemplateError.self) { try render("{{$nope}}") }
        #expect(throws: TemplateError.self) { try render(#"{{eq .Name 1}}"#) }
        #expect(throws: TemplateError.self) { try render(#"{{index .Config.Env 5}}"#) }
    }
}
