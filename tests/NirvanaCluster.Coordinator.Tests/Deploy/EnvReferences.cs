namespace NirvanaCluster.Coordinator.Tests.Deploy;

/// <summary>
/// The $(VAR) references that the kubelet expands in a container's command, args and env values; "$$" escapes a
/// dollar, so "$$(VAR)" is the literal text "$(VAR)".
/// </summary>
public static class EnvReferences
{
    public static IReadOnlyList<string> In(string text)
    {
        var names = new List<string>();
        for (var i = 0; i < text.Length - 1; i++)
        {
            if (text[i] != '$') continue;
            if (text[i + 1] == '$') { i++; continue; }
            if (text[i + 1] != '(') continue;
            var close = text.IndexOf(')', i + 2);
            if (close < 0) break;
            names.Add(text[(i + 2)..close]);
            i = close;
        }
        return names;
    }
}
