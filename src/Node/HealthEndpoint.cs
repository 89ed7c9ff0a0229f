using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace NirvanaCluster.Node;

/// <summary>Kubernetes probes: GET /healthz (alive) and GET /readyz (joined to the coordinator).</summary>
public sealed class HealthEndpoint : IAsyncDisposable
{
    private readonly WebApplication _app;
    private volatile bool _ready;

    private HealthEndpoint(WebApplication app) => _app = app;

    public static async Task<HealthEndpoint> StartAsync(int port)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://0.0.0.0:{port}");
        var app = builder.Build();
        var endpoint = new HealthEndpoint(app);
        app.MapGet("/healthz", () => Results.Text("ok"));
        app.MapGet("/readyz", () => endpoint._ready ? Results.Text("ready") : Results.Text("not joined", statusCode: 503));
        await app.StartAsync();
        return endpoint;
    }

    public void MarkReady(bool ready) => _ready = ready;

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
